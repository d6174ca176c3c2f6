package okta

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Enricher names, the keys of Provider.Enrichers (the same as the
// in-memory provider's).
const (
	EnricherProfile = "profile"
	EnricherRoles   = "roles"
	EnricherGroups  = "groups"
	EnricherSignIns = "sign-ins"
	EnricherRisk    = "risk"
)

// DefaultSignIns is the number of recent authentications the sign-ins
// enricher of Enrichers loads.
const DefaultSignIns = 20

// signInWindow bounds how far back the sign-ins enricher looks.
const signInWindow = 30 * 24 * time.Hour

// Enrichers returns every enricher by name, in a fresh map. All of them
// only read from Okta, are safe for concurrent use, write through
// c.Update, and return a *playbook.ProviderError (ErrNotFound for an
// unknown user) or ctx.Err().
func (p *Provider) Enrichers() map[string]playbook.Enricher {
	return map[string]playbook.Enricher{
		EnricherProfile: p.ProfileEnricher(),
		EnricherRoles:   p.RolesEnricher(),
		EnricherGroups:  p.GroupsEnricher(),
		EnricherSignIns: p.SignInsEnricher(DefaultSignIns),
		EnricherRisk:    p.RiskEnricher(),
	}
}

// ProfileEnricher fills Facts.Profile from GET /api/v1/users/{id}: login,
// email, name, department, title, manager, Okta status, and Enabled (false
// for SUSPENDED, DEPROVISIONED, LOCKED_OUT, STAGED and PROVISIONED).
func (p *Provider) ProfileEnricher() playbook.Enricher {
	return playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		u, err := p.c.GetUser(ctx, c.Subject().ID)
		if err != nil {
			return err
		}
		prof := profileOf(u)
		c.Update(func(f *playbook.Facts) { f.Profile = &prof })
		return nil
	})
}

func profileOf(u User) playbook.Profile {
	prof := playbook.Profile{
		ID: u.ID, Login: u.Profile.Login, Email: u.Profile.Email, DisplayName: u.Profile.Name(),
		Department: u.Profile.Department, JobTitle: u.Profile.Title, Manager: u.Profile.ManagerID,
		Status: u.Status, Enabled: enabled(u.Status), CreatedAt: u.Created,
	}
	if prof.Manager == "" {
		prof.Manager = u.Profile.Manager
	}
	if u.LastLogin != nil {
		prof.LastSignIn = *u.LastLogin
	}
	return prof
}

// enabled reports whether a user in status can sign in.
func enabled(status string) bool {
	switch status {
	case StatusActive, StatusRecovery, StatusPasswordExpired:
		return true
	}
	return false
}

// RolesEnricher fills Facts.Roles from the user's admin role assignments
// (Role.ID is the assignment id, Template the role type, Name the label),
// sets RolesLoaded, and raises Facts.Privilege to privileged when a role is
// SUPER_ADMIN or in Config.PrivilegedRoles, to at least standard otherwise.
func (p *Provider) RolesEnricher() playbook.Enricher {
	return playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		rs, err := p.c.UserRoles(ctx, c.Subject().ID)
		if err != nil {
			return err
		}
		roles := make([]playbook.Role, 0, len(rs))
		priv := playbook.PrivilegeStandard
		for _, r := range rs {
			scope := "/"
			if r.ResourceSet != "" {
				scope = r.ResourceSet
			}
			roles = append(roles, playbook.Role{ID: r.ID, Name: r.Label, Template: r.Type, Scope: scope})
			if p.privilegedRole(r.Type) {
				priv = playbook.PrivilegePrivileged
			}
		}
		c.Update(func(f *playbook.Facts) {
			f.Roles, f.RolesLoaded = roles, true
			f.Privilege = max(f.Privilege, priv)
		})
		return nil
	})
}

func (p *Provider) privilegedRole(t string) bool {
	return strings.EqualFold(t, RoleSuperAdmin) || slices.ContainsFunc(p.privRoles, func(r string) bool { return strings.EqualFold(r, t) })
}

// GroupsEnricher fills Facts.Groups and raises Facts.Privilege to
// privileged when a group is in Config.PrivilegedGroups (by id or name).
// It never sets standard on its own.
func (p *Provider) GroupsEnricher() playbook.Enricher {
	return playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		gs, err := p.c.UserGroups(ctx, c.Subject().ID)
		if err != nil {
			return err
		}
		groups := make([]playbook.Group, 0, len(gs))
		priv := playbook.PrivilegeUnknown
		for _, g := range gs {
			groups = append(groups, playbook.Group{ID: g.ID, Name: g.Profile.Name})
			if p.privilegedGroup(g) {
				priv = playbook.PrivilegePrivileged
			}
		}
		c.Update(func(f *playbook.Facts) {
			f.Groups = groups
			f.Privilege = max(f.Privilege, priv)
		})
		return nil
	})
}

func (p *Provider) privilegedGroup(g Group) bool {
	return slices.ContainsFunc(p.privGroups, func(ref string) bool {
		return strings.EqualFold(ref, g.ID) || strings.EqualFold(ref, g.Profile.Name)
	})
}

// SignInsEnricher fills Facts.SignIns with the user's n most recent
// authentications (user.session.start in the System Log, last 30 days),
// newest first; n <= 0 means 100.
func (p *Provider) SignInsEnricher(n int) playbook.Enricher {
	if n <= 0 {
		n = 100
	}
	return playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		id := c.Subject().ID
		evs, err := p.c.Logs(ctx, LogQuery{
			Filter:     "eventType eq " + scimQuote(EventSessionStart) + " and actor.id eq " + scimQuote(id),
			Since:      time.Now().Add(-signInWindow),
			Until:      time.Now().Add(time.Minute), // bounded: newest first
			Descending: true,
			Limit:      n,
		})
		if err != nil {
			return err
		}
		out := make([]playbook.SignIn, 0, len(evs))
		for _, e := range evs {
			s := playbook.SignIn{ID: e.UUID, Time: e.Published.UTC(), IP: e.IP(), Location: e.Location(),
				Success: e.Outcome != nil && e.Outcome.Result == "SUCCESS"}
			for _, t := range e.Target {
				if strings.EqualFold(t.Type, "AppInstance") {
					s.App = t.DisplayName
				}
			}
			if r, err := parseRisk(e); err == nil {
				s.Risk = r.level
			}
			out = append(out, s)
		}
		slices.SortStableFunc(out, func(a, b playbook.SignIn) int { return b.Time.Compare(a.Time) })
		c.Update(func(f *playbook.Facts) { f.SignIns = out })
		return nil
	})
}

// RiskEnricher raises Facts.Risk to the user's Identity Threat Protection
// risk level (GET /api/v1/users/{id}/risk). It needs ITP; without it the
// org answers an error the enricher returns (compose it as optional).
func (p *Provider) RiskEnricher() playbook.Enricher {
	return playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		lvl, err := p.c.UserRisk(ctx, c.Subject().ID)
		if err != nil {
			return err
		}
		r := riskOf(lvl)
		c.Update(func(f *playbook.Facts) { f.Risk = max(f.Risk, r) })
		return nil
	})
}
