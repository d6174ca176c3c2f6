package decide

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Microsoft Entra ID role template ids of the built-in roles that can take
// over a tenant or its security controls. They are the same in every
// tenant; Entra reports them as Role.Template.
const (
	EntraGlobalAdministrator                   = "62e90394-69f5-4237-9190-012177145e10"
	EntraPrivilegedRoleAdministrator           = "e8611ab8-c189-46e8-94e1-60213ab1f814"
	EntraSecurityAdministrator                 = "194ae4cb-b126-40b2-bd5b-6091b380977d"
	EntraPrivilegedAuthenticationAdministrator = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13"
	EntraUserAdministrator                     = "fe930be7-5e62-47db-91af-98c3a49a38b1"
	EntraExchangeAdministrator                 = "29232cdf-9323-42fd-ade2-1d097af3e4de"
	EntraApplicationAdministrator              = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
	EntraAuthenticationAdministrator           = "c4e39bd9-1100-46d3-8c65-fb160da0071f"
	EntraConditionalAccessAdministrator        = "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9"
	EntraHybridIdentityAdministrator           = "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2"
	EntraCloudApplicationAdministrator         = "158c047a-c907-4556-b7ef-446551a6b5f7"
)

// Okta administrator role types that can take over an org or its
// applications; Okta reports them as Role.Template.
const (
	OktaSuperAdmin               = "SUPER_ADMIN"
	OktaOrgAdmin                 = "ORG_ADMIN"
	OktaAppAdmin                 = "APP_ADMIN"
	OktaUserAdmin                = "USER_ADMIN"
	OktaGroupMembershipAdmin     = "GROUP_MEMBERSHIP_ADMIN"
	OktaAPIAccessManagementAdmin = "API_ACCESS_MANAGEMENT_ADMIN"
)

// DefaultPrivilegedRoles returns a new slice holding the Entra role template
// ids and Okta role types above: the roles whose holders a policy should
// treat as privileged. Append your own custom or tenant-specific roles to it.
func DefaultPrivilegedRoles() []string {
	return []string{
		EntraGlobalAdministrator,
		EntraPrivilegedRoleAdministrator,
		EntraSecurityAdministrator,
		EntraPrivilegedAuthenticationAdministrator,
		EntraUserAdministrator,
		EntraExchangeAdministrator,
		EntraApplicationAdministrator,
		EntraAuthenticationAdministrator,
		EntraConditionalAccessAdministrator,
		EntraHybridIdentityAdministrator,
		EntraCloudApplicationAdministrator,
		OktaSuperAdmin,
		OktaOrgAdmin,
		OktaAppAdmin,
		OktaUserAdmin,
		OktaGroupMembershipAdmin,
		OktaAPIAccessManagementAdmin,
	}
}

// RoleSet is a compiled, case-insensitive set of privileged role names and
// template ids, built by NewRoleSet. It is immutable and safe for
// concurrent use.
type RoleSet struct {
	set map[string]bool
}

// NewRoleSet compiles roles (Entra template ids, Okta role types, display
// names such as "Global Administrator"). It returns an error naming the
// first empty entry, or when roles is empty.
func NewRoleSet(roles []string) (*RoleSet, error) {
	if len(roles) == 0 {
		return nil, errors.New("decide: privileged role list is empty")
	}
	s := &RoleSet{set: make(map[string]bool, len(roles))}
	for i, r := range roles {
		r = strings.TrimSpace(r)
		if r == "" {
			return nil, fmt.Errorf("decide: privileged role list entry %d is empty", i)
		}
		s.set[strings.ToLower(r)] = true
	}
	return s, nil
}

// Holds returns the first role in roles whose Template or Name is in the
// set (compared case-insensitively), and whether there is one.
func (s *RoleSet) Holds(roles []playbook.Role) (playbook.Role, bool) {
	for _, r := range roles {
		if s.has(r.Template) || s.has(r.Name) {
			return r, true
		}
	}
	return playbook.Role{}, false
}

func (s *RoleSet) has(v string) bool {
	if v == "" {
		return false
	}
	if s.set[v] {
		return true
	}
	return s.set[strings.ToLower(strings.TrimSpace(v))]
}

// Classify derives the subject's privilege from the facts, never lowering
// what an enricher established:
//
//   - PrivilegePrivileged when any of f.Roles is in the set, or when
//     f.Privilege already says so;
//   - otherwise f.Privilege when an enricher set it (PrivilegeStandard);
//   - otherwise PrivilegeStandard when f.Roles lists at least one role or
//     f.RolesLoaded says a role enricher found the complete list (the
//     roles are known and none is privileged);
//   - otherwise PrivilegeUnknown: an empty role list that no enricher
//     vouched for is "not known", not "none" (see playbook.Facts), so the
//     policy treats the subject as privileged.
func (s *RoleSet) Classify(f *playbook.Facts) playbook.Privilege {
	if _, ok := s.Holds(f.Roles); ok {
		return playbook.PrivilegePrivileged
	}
	if f.Privilege != playbook.PrivilegeUnknown {
		return f.Privilege
	}
	if len(f.Roles) > 0 || f.RolesLoaded {
		return playbook.PrivilegeStandard
	}
	return playbook.PrivilegeUnknown
}

// ClassifyPrivilege is NewRoleSet(privileged) followed by Classify(f); it
// compiles the list on every call, so policies should keep a RoleSet
// instead. An unusable list is an error.
func ClassifyPrivilege(f *playbook.Facts, privileged []string) (playbook.Privilege, error) {
	s, err := NewRoleSet(privileged)
	if err != nil {
		return playbook.PrivilegeUnknown, err
	}
	if f == nil {
		return playbook.PrivilegeUnknown, errors.New("decide: nil facts")
	}
	return s.Classify(f), nil
}

// PrivilegeEnricher returns an enricher that sets c.Facts.Privilege to
// RoleSet.Classify of the case's facts, through c.Update. It only reads
// Facts.Roles and Facts.Privilege, calls no provider and never fails for a
// non-nil case.
//
// It must run after the enricher that loads the roles (sequenced after it,
// not in parallel with it); run in parallel it may see no roles and leave
// the subject PrivilegeUnknown, which the matrix treats as privileged. When
// ordering enrichers is awkward, prefer MatrixConfig.PrivilegedRoles: the
// matrix then classifies at decision time, when every enricher has run.
func PrivilegeEnricher(privileged []string) (playbook.Enricher, error) {
	s, err := NewRoleSet(privileged)
	if err != nil {
		return nil, err
	}
	return playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		if c == nil {
			return errors.New("decide: nil case")
		}
		c.Update(func(f *playbook.Facts) { f.Privilege = s.Classify(f) })
		return nil
	}), nil
}
