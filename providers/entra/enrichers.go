package entra

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Enrichers returns the client's enrichers by name: "profile", "roles",
// "groups", "sign-ins" (the 10 most recent) and "risk". Each only reads
// from Graph, is safe for concurrent use, and returns Graph's errors as
// *playbook.ProviderError (an unknown user wraps ErrNotFound) or
// ctx.Err().
func (c *Client) Enrichers() map[string]playbook.Enricher {
	return map[string]playbook.Enricher{
		"profile":  c.ProfileEnricher(),
		"roles":    c.RolesEnricher(),
		"groups":   c.GroupsEnricher(),
		"sign-ins": c.SignInsEnricher(10),
		"risk":     c.RiskEnricher(),
	}
}

// ProfileEnricher fills Facts.Profile from GET /users/{id} with the
// manager expanded: id, UPN, mail, display name, department, job title,
// manager (UPN, else id), enabled and creation time.
func (c *Client) ProfileEnricher() playbook.Enricher {
	return playbook.EnricherFunc(func(ctx context.Context, cs *playbook.Case) error {
		const op = "enrich profile"
		var u graphUser
		_, err := c.do(ctx, request{op: op, method: http.MethodGet, path: userPath(cs.Subject().ID), query: url.Values{
			"$select": {"id,userPrincipalName,mail,displayName,department,jobTitle,accountEnabled,createdDateTime"},
			"$expand": {"manager($select=id,userPrincipalName)"},
		}}, &u)
		if err != nil {
			return err
		}
		p := &playbook.Profile{ID: u.ID, Login: u.UserPrincipalName, Email: u.Mail, DisplayName: u.DisplayName,
			Department: u.Department, JobTitle: u.JobTitle, Enabled: u.AccountEnabled == nil || *u.AccountEnabled, CreatedAt: u.CreatedDateTime.Time}
		if u.AccountEnabled != nil && !*u.AccountEnabled {
			p.Status = "disabled"
		} else {
			p.Status = "enabled"
		}
		if u.Manager != nil {
			p.Manager = cmpOr(u.Manager.UserPrincipalName, u.Manager.ID)
		}
		cs.Update(func(f *playbook.Facts) { f.Profile = p })
		return nil
	})
}

// memberGroup is a group the user belongs to (transitively).
type memberGroup struct {
	Type               string `json:"@odata.type"`
	ID                 string `json:"id"`
	DisplayName        string `json:"displayName"`
	IsAssignableToRole *bool  `json:"isAssignableToRole"`
}

func (c *Client) groupsOf(ctx context.Context, op, id string) ([]memberGroup, error) {
	var out []memberGroup
	err := c.list(ctx, request{op: op, method: http.MethodGet, path: userPath(id) + "/transitiveMemberOf",
		query: url.Values{"$select": {"id,displayName,isAssignableToRole"}, "$top": {"999"}}},
		func(raw json.RawMessage) error {
			var g memberGroup
			if err := json.Unmarshal(raw, &g); err != nil {
				return c.errorf(op, http.StatusOK, playbook.ErrUnavailable, "Graph returned a membership that does not decode: %v", err)
			}
			// memberOf collections mix groups, directory roles and
			// administrative units; they carry @odata.type.
			if g.Type == "" || strings.EqualFold(g.Type, "#microsoft.graph.group") {
				out = append(out, g)
			}
			return nil
		})
	return out, err
}

// RolesEnricher fills Facts.Roles with the user's directory role
// assignments, direct and through role-assignable groups (Role.ID is the
// assignment id, Name the role's display name, Template its template id,
// Scope the directory scope), sets RolesLoaded, and sets Facts.Privilege:
// privileged when a role is among Config.PrivilegedRoleTemplates or the
// user belongs to one of Config.PrivilegedGroups, standard otherwise.
func (c *Client) RolesEnricher() playbook.Enricher {
	return playbook.EnricherFunc(func(ctx context.Context, cs *playbook.Case) error {
		const op = "enrich roles"
		u, err := c.getUser(ctx, op, cs.Subject().ID, "id")
		if err != nil {
			return err
		}
		direct, err := c.assignments(ctx, op, u.ID)
		if err != nil {
			return err
		}
		groups, err := c.groupsOf(ctx, op, u.ID)
		if err != nil {
			return err
		}
		all := direct
		privGroup := false
		for _, g := range groups {
			if c.privGroups[strings.ToLower(g.ID)] {
				privGroup = true
			}
			if g.IsAssignableToRole != nil && *g.IsAssignableToRole {
				via, err := c.assignments(ctx, op, g.ID)
				if err != nil {
					return err
				}
				all = append(all, via...)
			}
		}
		roles := make([]playbook.Role, 0, len(all))
		priv := privGroup
		for _, a := range all {
			roles = append(roles, playbook.Role{ID: a.ID, Name: a.RoleName, Template: cmpOr(a.RoleTemplateID, a.RoleDefinitionID), Scope: a.DirectoryScopeID})
			if c.isPrivilegedRole(a.RoleTemplateID, a.RoleDefinitionID, a.RoleName) {
				priv = true
			}
		}
		level := playbook.PrivilegeStandard
		if priv {
			level = playbook.PrivilegePrivileged
		}
		cs.Update(func(f *playbook.Facts) {
			f.Roles, f.RolesLoaded = roles, true
			if level > f.Privilege || f.Privilege == playbook.PrivilegeUnknown {
				f.Privilege = level
			}
		})
		return nil
	})
}

// GroupsEnricher fills Facts.Groups with the user's transitive group
// memberships (GET /users/{id}/transitiveMemberOf, groups only).
func (c *Client) GroupsEnricher() playbook.Enricher {
	return playbook.EnricherFunc(func(ctx context.Context, cs *playbook.Case) error {
		groups, err := c.groupsOf(ctx, "enrich groups", cs.Subject().ID)
		if err != nil {
			return err
		}
		out := make([]playbook.Group, 0, len(groups))
		for _, g := range groups {
			out = append(out, playbook.Group{ID: g.ID, Name: g.DisplayName})
		}
		cs.Update(func(f *playbook.Facts) { f.Groups = out })
		return nil
	})
}

// SignInsEnricher fills Facts.SignIns with the user's n most recent
// interactive sign-ins (GET /auditLogs/signIns, newest first; n is capped
// at 1000, Graph's page limit) and sets Profile.LastSignIn when the
// profile is loaded. Records that do not decode are skipped.
func (c *Client) SignInsEnricher(n int) playbook.Enricher {
	n = min(max(n, 1), 1000)
	return playbook.EnricherFunc(func(ctx context.Context, cs *playbook.Case) error {
		const op = "enrich sign-ins"
		var p page
		_, err := c.do(ctx, request{op: op, method: http.MethodGet, path: "/auditLogs/signIns", query: url.Values{
			"$filter": {"userId eq " + quote(cs.Subject().ID)}, "$top": {strconv.Itoa(n)},
		}}, &p)
		if err != nil {
			return err
		}
		out := make([]playbook.SignIn, 0, len(p.Value))
		for _, raw := range p.Value {
			s, err := DecodeSignIn(raw)
			if err != nil {
				c.log.WarnContext(ctx, "entra: skipping a sign-in record that does not decode", "err", err)
				continue
			}
			out = append(out, s)
			if len(out) == n {
				break
			}
		}
		cs.Update(func(f *playbook.Facts) {
			f.SignIns = out
			if f.Profile != nil && len(out) > 0 {
				for _, s := range out {
					if s.Success && s.Time.After(f.Profile.LastSignIn) {
						f.Profile.LastSignIn = s.Time
					}
				}
			}
		})
		return nil
	})
}

// RiskEnricher sets Facts.Risk from the user's Identity Protection state
// (GET /identityProtection/riskyUsers/{id}); a user Identity Protection
// never flagged has RiskNone; confirmed compromised is RiskHigh. It goes
// through the Identity Protection limiter.
func (c *Client) RiskEnricher() playbook.Enricher {
	return playbook.EnricherFunc(func(ctx context.Context, cs *playbook.Case) error {
		const op = "enrich risk"
		var r RiskyUser
		_, err := c.do(ctx, request{op: op, method: http.MethodGet, path: "/identityProtection/riskyUsers/" + url.PathEscape(cs.Subject().ID)}, &r)
		if errors.Is(err, playbook.ErrNotFound) {
			// Not a risky user, or not a user at all: tell them apart.
			if _, uerr := c.getUser(ctx, op, cs.Subject().ID, "id"); uerr != nil {
				return uerr
			}
			cs.Update(func(f *playbook.Facts) { f.Risk = playbook.RiskNone })
			return nil
		}
		if err != nil {
			return err
		}
		risk := riskOf(r.RiskLevel, r.RiskState)
		cs.Update(func(f *playbook.Facts) { f.Risk = risk })
		return nil
	})
}
