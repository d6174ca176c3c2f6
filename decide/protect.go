package decide

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// DefaultProtectedTag is the Facts tag that always marks a protected
// (break-glass) account for Protect.
const DefaultProtectedTag = "break-glass"

// RuleProtect is the Decision.Rule of a decision that Protect changed.
const RuleProtect = "protect/break-glass"

// ProtectConfig says which accounts Protect shields and how. The zero value
// shields accounts with c.Facts.Protected set or tagged DefaultProtectedTag.
type ProtectConfig struct {
	// Accounts lists protected accounts by subject ID, login or key
	// ("provider:id"), compared case-insensitively with the event's
	// subject and with the profile's ID, login and email when enriched.
	// Entries must not be empty.
	Accounts []string
	// Tags lists c.Facts.Tags values that mark an account protected, in
	// addition to DefaultProtectedTag; compared case-insensitively.
	// Entries must not be empty.
	Tags []string
	// Approval, when set, routes every approval about a protected account
	// to this approval rule ("break-glass-owners"); the decision's Rule
	// then becomes RuleProtect. Empty: approvals keep their approval rule.
	Approval string
	// EscalateApprovals turns RespondApprove about a protected account
	// into RespondEscalate too, so that containment of a break-glass
	// account can only happen by hand, outside the playbook.
	EscalateApprovals bool
}

// Protect returns a policy that decides with p and then shields protected
// (break-glass) accounts, which are never contained automatically:
//
//   - RespondContain becomes RespondEscalate, with no steps: people decide
//     by hand whether and how to touch an emergency-access account.
//   - RespondApprove stays an approval by default: approval is not
//     automatic, and a compromised break-glass account must still be
//     containable quickly by a human who sees the case. With
//     cfg.Approval the request goes to a stricter approval rule; with
//     cfg.EscalateApprovals it becomes RespondEscalate like containment.
//   - Other responses are returned unchanged.
//
// A changed decision gets Rule RuleProtect and a note, appended to Notes,
// that says why the subject is protected and which inner rule asked for
// what. An approval left unchanged only gets the note. A subject is
// protected when c.Facts.Protected is set, when c.Facts.Tags hold
// DefaultProtectedTag or one of cfg.Tags, or when its ID, login or key (or
// its enriched profile's ID, login or email) is among cfg.Accounts.
//
// The returned policy is safe for concurrent use when p is, returns p's
// errors unchanged, implements playbook.ActionNamer when p does (with
// p's list: protection only removes steps), and playbook.ApprovalNamer
// (cfg.Approval and the names p lists). Protect returns an error naming
// the field for a nil p or an empty entry in cfg.Accounts or cfg.Tags.
func Protect(p playbook.Policy, cfg ProtectConfig) (playbook.Policy, error) {
	if p == nil {
		return nil, errors.New("decide: Protect: policy is nil")
	}
	pr := &protector{inner: p, accounts: make(map[string]string, len(cfg.Accounts)), tags: []string{DefaultProtectedTag},
		approval: cfg.Approval, escalateApprovals: cfg.EscalateApprovals}
	for i, a := range cfg.Accounts {
		if strings.TrimSpace(a) == "" {
			return nil, fmt.Errorf("decide: ProtectConfig.Accounts[%d] is empty", i)
		}
		pr.accounts[strings.ToLower(strings.TrimSpace(a))] = a
	}
	for i, t := range cfg.Tags {
		if strings.TrimSpace(t) == "" {
			return nil, fmt.Errorf("decide: ProtectConfig.Tags[%d] is empty", i)
		}
		pr.tags = append(pr.tags, strings.TrimSpace(t))
	}
	return withNames(pr, p), nil
}

type protector struct {
	inner             playbook.Policy
	accounts          map[string]string // lower-case → as configured
	tags              []string
	approval          string
	escalateApprovals bool
}

func (p *protector) Decide(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
	if err := checkCase(ctx, c); err != nil {
		return playbook.Decision{}, err
	}
	d, err := p.inner.Decide(ctx, c)
	if err != nil {
		return d, err
	}
	if d.Response != playbook.RespondContain && d.Response != playbook.RespondApprove {
		return d, nil
	}
	why, ok := p.protected(c)
	if !ok {
		return d, nil
	}
	d = d.Clone()
	if d.Response == playbook.RespondContain || p.escalateApprovals {
		d.Notes = append(d.Notes, fmt.Sprintf("protect: %s; rule %q asked for %s (%s), escalated instead",
			why, d.Rule, d.Response, strings.Join(stepNames(d.Steps), ", ")))
		d.Response = playbook.RespondEscalate
		d.Steps = nil
		d.Approval = ""
		d.Rule = RuleProtect
		d.Reason = fmt.Sprintf("protected account (%s): never contained by the playbook; escalation to people", why)
		return d, nil
	}
	if p.approval != "" {
		d.Notes = append(d.Notes, fmt.Sprintf("protect: %s; rule %q asked for approval, routed to approval rule %q",
			why, d.Rule, p.approval))
		d.Approval = p.approval
		d.Rule = RuleProtect
		return d, nil
	}
	d.Notes = append(d.Notes, fmt.Sprintf("protect: %s; approval kept, containment only if a person approves", why))
	return d, nil
}

// protected says whether the case's subject is protected, and why.
func (p *protector) protected(c *playbook.Case) (string, bool) {
	if c.Facts.Protected {
		return "facts mark the account protected", true
	}
	for _, t := range p.tags {
		if hasTagFold(c.Facts.Tags, t) {
			return fmt.Sprintf("account tagged %q", t), true
		}
	}
	if len(p.accounts) == 0 {
		return "", false
	}
	s := c.Event.Subject
	ids := []string{s.ID, s.Login, s.Key()}
	if pf := c.Facts.Profile; pf != nil {
		ids = append(ids, pf.ID, pf.Login, pf.Email)
	}
	for _, id := range ids {
		if id == "" {
			continue
		}
		if a, ok := p.accounts[strings.ToLower(strings.TrimSpace(id))]; ok {
			return fmt.Sprintf("account %q is in the protected list", a), true
		}
	}
	return "", false
}
