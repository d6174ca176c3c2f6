package okta

import (
	"errors"
	"strings"

	"github.com/iamplaybook/iamplaybook/internal/keylock"
	"github.com/iamplaybook/iamplaybook/providers/cursor"
)

// RoleSuperAdmin is Okta's super administrator role type, always
// privileged.
const RoleSuperAdmin = "SUPER_ADMIN"

// DefaultPrivilegedRoles are the admin role types, beyond SUPER_ADMIN, that
// ProviderConfig.PrivilegedRoles defaults to: roles that can change who
// signs in, how, or with which privileges.
func DefaultPrivilegedRoles() []string {
	return []string{"ORG_ADMIN", "APP_ADMIN", "USER_ADMIN", "GROUP_MEMBERSHIP_ADMIN", "API_ACCESS_MANAGEMENT_ADMIN"}
}

// ProviderConfig configures a Provider. The zero value works.
type ProviderConfig struct {
	// PrivilegedRoles are the admin role types that make a user
	// privileged, besides SUPER_ADMIN which always does. Nil means
	// DefaultPrivilegedRoles; an empty non-nil slice means SUPER_ADMIN only.
	PrivilegedRoles []string
	// PrivilegedGroups are group ids or names whose members are
	// privileged, and whose new members the Mapper reports.
	PrivilegedGroups []string
	// AllowDeactivate registers the deactivate-user action. Deactivation
	// deprovisions the user's apps, so it is off unless asked for.
	AllowDeactivate bool
	// RevokeOAuthTokens makes revoke-sessions also revoke the user's OAuth
	// access and refresh tokens (oauthTokens=true).
	RevokeOAuthTokens bool
	// Store keeps the actions' idempotency records. Nil means a
	// cursor.Memory of the provider's own: keys are then remembered only
	// while the process lives (state checks still keep repeats harmless).
	// A host passes a durable store, typically its SQLite run store, which
	// may be the one its Poller keeps its cursor in.
	Store cursor.Store
}

// Provider is the Okta identity provider for playbooks: actions, enrichers,
// the event Mapper and the two triggers, over one Client. It is safe for
// concurrent use.
type Provider struct {
	c           *Client
	privRoles   []string
	privGroups  []string
	deactivate  bool
	revokeOAuth bool
	store       cursor.Store
	mapper      *Mapper
	locks       keylock.Map
	actions     map[string]actionDef
}

// NewProvider returns a provider over c.
func NewProvider(c *Client, cfg ProviderConfig) (*Provider, error) {
	if c == nil {
		return nil, errors.New("okta: NewProvider: client is nil")
	}
	p := &Provider{c: c, privRoles: cfg.PrivilegedRoles, deactivate: cfg.AllowDeactivate, revokeOAuth: cfg.RevokeOAuthTokens, store: cfg.Store}
	if p.privRoles == nil {
		p.privRoles = DefaultPrivilegedRoles()
	}
	for _, g := range cfg.PrivilegedGroups {
		if g = strings.TrimSpace(g); g != "" {
			p.privGroups = append(p.privGroups, g)
		}
	}
	if p.store == nil {
		p.store = &cursor.Memory{}
	}
	p.mapper = NewMapper(MapperConfig{Provider: c.name, PrivilegedGroups: p.privGroups})
	p.actions = p.newActions()
	return p, nil
}

// Client returns the provider's client.
func (p *Provider) Client() *Client { return p.c }

// Mapper returns the mapper the provider's triggers use.
func (p *Provider) Mapper() *Mapper { return p.mapper }
