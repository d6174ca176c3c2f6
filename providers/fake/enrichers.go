package fake

import (
	"context"
	"net/http"
	"slices"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Enricher names, the keys of Provider.Enrichers.
const (
	EnricherProfile  = "profile"
	EnricherRoles    = "roles"
	EnricherGroups   = "groups"
	EnricherSignIns  = "sign-ins"
	EnricherSessions = "sessions"
	EnricherRisk     = "risk"
)

// DefaultSignIns is the number of sign-ins the enricher returned by
// Enrichers loads.
const DefaultSignIns = 20

type enricherKind int

const (
	kindProfile enricherKind = iota
	kindRoles
	kindGroups
	kindSignIns
	kindSessions
	kindRisk
)

var enricherOps = [...]string{
	kindProfile:  OpGetUser,
	kindRoles:    OpListRoles,
	kindGroups:   OpListGroup,
	kindSignIns:  OpSignIns,
	kindSessions: OpSessions,
	kindRisk:     OpGetRisk,
}

// enricher reads one kind of fact. All enrichers share this contract: they
// read c.Event.Subject, make one logged read of the provider (subject to
// faults under their Op), write what they found through c.Update, and never
// change the directory. An unknown user is a *playbook.ProviderError
// wrapping playbook.ErrNotFound; a subject of another provider one wrapping
// playbook.ErrInvalidRequest; a context that ends first returns ctx.Err().
// They are safe for concurrent use.
type enricher struct {
	p    *Provider
	kind enricherKind
	n    int
}

// ProfileEnricher fills Facts.Profile: the user's directory profile, with
// Status "active" or "disabled" and LastSignIn from the latest successful
// sign-in.
func (p *Provider) ProfileEnricher() playbook.Enricher { return &enricher{p: p, kind: kindProfile} }

// RolesEnricher fills Facts.Roles (Role.ID is the role definition's ID) and
// raises Facts.Privilege to PrivilegePrivileged when a held role is
// privileged, or to at least PrivilegeStandard otherwise.
func (p *Provider) RolesEnricher() playbook.Enricher { return &enricher{p: p, kind: kindRoles} }

// GroupsEnricher fills Facts.Groups and raises Facts.Privilege to
// PrivilegePrivileged when the user is in a privileged group. It never
// lowers Privilege and never sets PrivilegeStandard on its own: group
// memberships alone cannot prove an account unprivileged.
func (p *Provider) GroupsEnricher() playbook.Enricher { return &enricher{p: p, kind: kindGroups} }

// SignInsEnricher fills Facts.SignIns with the user's n most recent
// sign-ins, newest first; n <= 0 means all of them.
func (p *Provider) SignInsEnricher(n int) playbook.Enricher {
	return &enricher{p: p, kind: kindSignIns, n: n}
}

// SessionsEnricher fills Facts.Sessions with the user's active sessions.
func (p *Provider) SessionsEnricher() playbook.Enricher { return &enricher{p: p, kind: kindSessions} }

// RiskEnricher sets Facts.Risk to the user's risk at the provider (RiskHigh
// once confirmed compromised), adds the user's tags to Facts.Tags, and sets
// Facts.Protected when the user is tagged TagBreakGlass. It never clears
// Protected.
func (p *Provider) RiskEnricher() playbook.Enricher { return &enricher{p: p, kind: kindRisk} }

// Enrichers returns every enricher by name (the Enricher constants), the
// sign-ins enricher loading DefaultSignIns. The map is fresh on each call.
func (p *Provider) Enrichers() map[string]playbook.Enricher {
	return map[string]playbook.Enricher{
		EnricherProfile:  p.ProfileEnricher(),
		EnricherRoles:    p.RolesEnricher(),
		EnricherGroups:   p.GroupsEnricher(),
		EnricherSignIns:  p.SignInsEnricher(DefaultSignIns),
		EnricherSessions: p.SessionsEnricher(),
		EnricherRisk:     p.RiskEnricher(),
	}
}

// Enrich reads the provider and records the facts on c.
func (e *enricher) Enrich(ctx context.Context, c *playbook.Case) error {
	p := e.p
	op := enricherOps[e.kind]
	subj := c.Subject()
	call := Call{Op: op, Subject: subj}
	err := p.checkSubject(op, subj)
	if err == nil {
		if err = ctx.Err(); err == nil {
			err = p.inject(ctx, op)
		}
	}
	if err != nil {
		call.Err = err
		p.record(call)
		return err
	}

	p.mu.Lock()
	st, ok := p.users[subj.ID]
	if !ok {
		call.Err = p.errorf(op, http.StatusNotFound, "UserNotFound", playbook.ErrNotFound, "user %q does not exist", subj.ID)
		p.recordLocked(call)
		p.mu.Unlock()
		return call.Err
	}
	// Copy what the enricher needs while locked, write to the case after
	// unlocking: c.Update takes the case's own lock.
	var (
		profile   playbook.Profile
		roles     []playbook.Role
		groups    []playbook.Group
		signIns   []playbook.SignIn
		sessions  []playbook.Session
		privilege = playbook.PrivilegeUnknown
		risk      playbook.RiskLevel
		tags      []string
	)
	u := &st.user
	switch e.kind {
	case kindProfile:
		profile = playbook.Profile{
			ID: u.ID, Login: u.Login, Email: u.Email, DisplayName: u.DisplayName,
			Department: u.Department, JobTitle: u.JobTitle, Manager: u.Manager,
			Enabled: !u.Disabled, Status: "active", CreatedAt: u.CreatedAt,
		}
		if u.Disabled {
			profile.Status = "disabled"
		}
		for _, s := range st.signIns {
			if s.Success && s.Time.After(profile.LastSignIn) {
				profile.LastSignIn = s.Time
			}
		}
	case kindRoles:
		roles = make([]playbook.Role, len(st.assignments))
		privilege = playbook.PrivilegeStandard
		for i, a := range st.assignments {
			roles[i] = playbook.Role{ID: a.Role.ID, Name: a.Role.Name, Template: a.Role.Template, Scope: a.Scope}
			if a.Role.Privileged {
				privilege = playbook.PrivilegePrivileged
			}
		}
	case kindGroups:
		groups = make([]playbook.Group, len(st.groups))
		for i, gid := range st.groups {
			g := p.groups[gid]
			groups[i] = playbook.Group{ID: g.ID, Name: g.Name}
			if g.Privileged {
				privilege = playbook.PrivilegePrivileged
			}
		}
	case kindSignIns:
		signIns = slices.Clone(st.signIns)
	case kindSessions:
		sessions = slices.Clone(st.sessions)
	case kindRisk:
		risk = u.Risk
		if u.Compromised {
			risk = playbook.RiskHigh
		}
		tags = slices.Clone(u.Tags)
	}
	p.recordLocked(call)
	p.mu.Unlock()

	switch e.kind {
	case kindProfile:
		c.Update(func(f *playbook.Facts) { f.Profile = &profile })
	case kindRoles:
		c.Update(func(f *playbook.Facts) {
			f.Roles = roles
			f.RolesLoaded = true
			f.Privilege = max(f.Privilege, privilege)
		})
	case kindGroups:
		c.Update(func(f *playbook.Facts) {
			f.Groups = groups
			f.Privilege = max(f.Privilege, privilege)
		})
	case kindSignIns:
		slices.SortStableFunc(signIns, func(a, b playbook.SignIn) int { return b.Time.Compare(a.Time) })
		if e.n > 0 && len(signIns) > e.n {
			signIns = signIns[:e.n:e.n]
		}
		c.Update(func(f *playbook.Facts) { f.SignIns = signIns })
	case kindSessions:
		c.Update(func(f *playbook.Facts) { f.Sessions = sessions })
	case kindRisk:
		c.Update(func(f *playbook.Facts) {
			f.Risk = risk
			for _, t := range tags {
				if !slices.Contains(f.Tags, t) {
					f.Tags = append(f.Tags, t)
				}
				if t == TagBreakGlass {
					f.Protected = true
				}
			}
		})
	}
	return nil
}
