package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/enrich"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/fake"
	"github.com/iamplaybook/iamplaybook/providers/ssf"
)

// Rule names of the program's own policy.
const (
	RuleCompromise = "ssf/credential-compromise"
	RuleOther      = "ssf/log"
)

// signalPolicy routes each Shared Signals event: credential compromise is
// contained at once, risk-level changes are decided by the risk ×
// privilege matrix, everything else is logged.
type signalPolicy struct {
	rules  *decide.Rules
	matrix *decide.RiskMatrix
}

func newSignalPolicy() (*signalPolicy, error) {
	containment := []playbook.Step{{Action: playbook.ActionDisableUser}, {Action: playbook.ActionRevokeSessions}}
	rules, err := decide.NewRules([]decide.Rule{{
		Name:     RuleCompromise,
		When:     decide.EventType(playbook.EventCredentialCompromise),
		Decision: playbook.Decision{Response: playbook.RespondContain, Steps: containment, Reason: "the transmitter reports a compromised credential"},
	}}, decide.Rule{Name: RuleOther, Decision: playbook.Decision{Response: playbook.RespondLog, Reason: "informational signal"}})
	if err != nil {
		return nil, err
	}
	matrix, err := decide.Matrix(decide.MatrixConfig{Containment: containment, PrivilegedRoles: decide.DefaultPrivilegedRoles()})
	if err != nil {
		return nil, err
	}
	return &signalPolicy{rules: rules, matrix: matrix}, nil
}

// Decide implements playbook.Policy.
func (p *signalPolicy) Decide(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
	if c.Event.Type == playbook.EventRiskyUser {
		return p.matrix.Decide(ctx, c)
	}
	return p.rules.Decide(ctx, c)
}

// ActionNames implements playbook.ActionNamer.
func (p *signalPolicy) ActionNames() []string {
	return append(p.rules.ActionNames(), p.matrix.ActionNames()...)
}

// buildPlaybook assembles the playbook: enrichment from the directory, the
// signal policy behind break-glass protection, retried containment
// actions, and the approval channel newApprover built (its rule, when it
// has one, decides whose verdicts count; timeout bounds the wait).
func buildPlaybook(idp *fake.Provider, dryRun bool, approval approvals, timeout time.Duration, sinks ...playbook.AuditSink) (playbook.Playbook, error) {
	enricher, err := enrich.Parallel(enrich.Options{},
		enrich.Required("profile", idp.ProfileEnricher(), 5*time.Second),
		enrich.Required("roles", idp.RolesEnricher(), 5*time.Second),
		enrich.Optional("sessions", idp.SessionsEnricher(), 5*time.Second),
		enrich.Optional("risk", idp.RiskEnricher(), 5*time.Second),
	)
	if err != nil {
		return playbook.Playbook{}, err
	}
	routed, err := newSignalPolicy()
	if err != nil {
		return playbook.Playbook{}, err
	}
	policy, err := decide.Protect(routed, decide.ProtectConfig{Tags: []string{fake.TagBreakGlass}, EscalateApprovals: true})
	if err != nil {
		return playbook.Playbook{}, err
	}
	actions := map[string]playbook.Action{}
	retry := contain.RetryPolicy{InitialInterval: 200 * time.Millisecond, MaxAttempts: 4, MaxElapsed: 30 * time.Second}
	for name, a := range idp.Actions() {
		actions[name] = contain.Retry(a, retry)
	}
	return playbook.Playbook{
		Name:            "shared-signals",
		Enricher:        enricher,
		Policy:          policy,
		Actions:         actions,
		Approver:        approval.approver,
		ApprovalRule:    approval.rule,
		ApprovalTimeout: timeout,
		Audit:           sinks,
		DryRun:          dryRun,
	}, nil
}

// resolver maps a SET's subject to an account of the directory: the
// principal's value (an e-mail address, the sub of iss_sub, an opaque id)
// is looked up as a login, then as an account id.
func resolver(idp *fake.Provider, logins map[string]string) func(context.Context, ssf.SubjectID, playbook.Event) (playbook.Subject, error) {
	return func(_ context.Context, id ssf.SubjectID, _ playbook.Event) (playbook.Subject, error) {
		v, ok := id.Value()
		if !ok {
			return playbook.Subject{}, ssf.ErrUnknownSubject
		}
		if uid, ok := logins[strings.ToLower(v)]; ok {
			return idp.Subject(uid), nil
		}
		if _, ok := idp.User(v); ok {
			return idp.Subject(v), nil
		}
		return playbook.Subject{}, fmt.Errorf("%w: %s", ssf.ErrUnknownSubject, id)
	}
}

// seedDirectory fills the demonstration directory and returns it with its
// login index.
func seedDirectory() (*fake.Provider, map[string]string, error) {
	idp := fake.New()
	users := []fake.User{
		{ID: "u-ana", Login: "ana@contoso.example", DisplayName: "Ana Souza", Department: "Sales"},
		{ID: "u-leo", Login: "leo@contoso.example", DisplayName: "Leo Marsh", Department: "Support"},
		{ID: "u-gus", Login: "gus@contoso.example", DisplayName: "Gus Admin", Department: "IT"},
		{ID: "u-breakglass", Login: "breakglass@contoso.example", DisplayName: "Emergency Access", Tags: []string{fake.TagBreakGlass}},
	}
	logins := map[string]string{}
	var errs []error
	for _, u := range users {
		u.Manager = "it-lead@contoso.example"
		errs = append(errs, idp.AddUser(u))
		_, err := idp.AddSession(u.ID, playbook.Session{ID: "s-" + u.ID, Device: "laptop", IP: "203.0.113.7"})
		errs = append(errs, err)
		logins[strings.ToLower(u.Login)] = u.ID
	}
	for _, id := range []string{"u-gus", "u-breakglass"} {
		_, err := idp.AssignRole(id, "global-admin", "/")
		errs = append(errs, err)
	}
	return idp, logins, errors.Join(errs...)
}
