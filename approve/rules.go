package approve

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Rule errors. Evaluate's refusals wrap ErrIneligible or ErrUnknownRule;
// Validate's errors wrap ErrInvalidRule.
var (
	// ErrIneligible: the approver is not eligible under the request's
	// rule (not listed, not in a listed group, or in an escalation tier
	// that was not reached when the verdict was given).
	ErrIneligible = errors.New("approver is not eligible")
	// ErrUnknownRule: the decision names an approval rule that Rules does
	// not define (or names none, and there is no Default).
	ErrUnknownRule = errors.New("unknown approval rule")
	// ErrInvalidRule: a rule cannot work as written.
	ErrInvalidRule = errors.New("invalid approval rule")
)

// MinRemindEvery is the shortest reminder interval a Rule accepts, so that
// a typo cannot flood approvers.
const MinRemindEvery = time.Minute

// Rule says who may approve one kind of decision, how many must agree and
// how long they have. It is plain data: build it in code or decode it from
// configuration, and let Rules.Validate (called when the playbook is
// validated) check it.
//
// The runner's own checks always apply on top of a rule: the case's
// subject and the actor who caused the event never approve, and nobody
// votes twice.
type Rule struct {
	// Eligible lists approver identities as the channels authenticate
	// them (e-mail address, login). Compared case-insensitively.
	Eligible []string `json:"eligible,omitempty"`
	// Groups maps group names to their members; every member is
	// eligible. Groups are data here: a host that keeps them in its
	// directory reads them when it builds the rule.
	Groups map[string][]string `json:"groups,omitempty"`
	// Quorum is how many distinct eligible approvers must approve. Zero
	// means 1. A single denial from an eligible approver denies the
	// request (fail closed).
	Quorum int `json:"quorum,omitempty"`
	// Deadline bounds the wait; an unsettled request is then denied (it
	// expires) and its run escalated, even when some approvals arrived
	// but fell short of the quorum. Zero means Playbook.ApprovalTimeout.
	Deadline time.Duration `json:"deadline,omitempty"`
	// RemindEvery, when set, reminds the approvers who have not voted at
	// this interval while the request is pending. Zero means no
	// reminders; otherwise at least MinRemindEvery.
	RemindEvery time.Duration `json:"remind_every,omitempty"`
	// Escalation lists the tiers told, in order, while the request is
	// still pending. A tier's approvers become eligible when it is
	// reached. Make the last tier the fallback approver: one person with
	// Decisive set, who can settle what nobody else answered.
	Escalation []Tier `json:"escalation,omitempty"`
}

// Tier is one step of an escalation chain.
type Tier struct {
	// After is how long after the request this tier is told; positive,
	// increasing from tier to tier, and before the deadline.
	After time.Duration `json:"after"`
	// Approvers are the tier's identities.
	Approvers []string `json:"approvers,omitempty"`
	// Groups maps group names to members, as in Rule.Groups.
	Groups map[string][]string `json:"groups,omitempty"`
	// Decisive lets one approval from this tier settle the request,
	// whatever the quorum: a fallback approver.
	Decisive bool `json:"decisive,omitempty"`
}

// Rules selects a Rule by the name a decision carries in
// playbook.Decision.Approval: ByName[name], or Default for an empty name.
// A name that neither defines is refused (ErrUnknownRule): at Validate when
// the policy lists its names (playbook.ApprovalNamer), else when the first
// run asks for it, which then escalates with that error.
//
// Rules is a playbook.VerdictEvaluator (eligibility and quorum) and a
// playbook.ApprovalScheduler (deadline, reminders, escalation); set it as
// Playbook.ApprovalRule. Its methods are safe for concurrent use as long
// as nobody modifies the value.
type Rules struct {
	// Default applies to decisions that name no approval rule. The zero
	// Rule means there is no default.
	Default Rule `json:"default,omitzero"`
	// ByName holds the named rules ("security-leads-2of3").
	ByName map[string]Rule `json:"by_name,omitempty"`
}

var (
	_ playbook.VerdictEvaluator  = Rules{}
	_ playbook.ApprovalScheduler = Rules{}
)

// defined reports whether r says anything at all.
func (r Rule) defined() bool {
	return len(r.Eligible) > 0 || len(r.Groups) > 0 || len(r.Escalation) > 0 || r.Quorum != 0 || r.Deadline != 0 || r.RemindEvery != 0
}

// Rule returns the rule for approval rule name, or an error wrapping
// ErrUnknownRule.
func (rs Rules) Rule(name string) (Rule, error) {
	if name == "" {
		if !rs.Default.defined() {
			return Rule{}, fmt.Errorf("%w: the decision names no approval rule and there is no default rule", ErrUnknownRule)
		}
		return rs.Default, nil
	}
	r, ok := rs.ByName[name]
	if !ok {
		names := slices.Sorted(maps.Keys(rs.ByName))
		return Rule{}, fmt.Errorf("%w %q (defined: %s)", ErrUnknownRule, name, strings.Join(names, ", "))
	}
	return r, nil
}

// Validate checks every rule and names the first one at fault.
func (rs Rules) Validate() error {
	if !rs.Default.defined() && len(rs.ByName) == 0 {
		return fmt.Errorf("%w: no rule is defined (set Default or ByName)", ErrInvalidRule)
	}
	if rs.Default.defined() {
		if err := rs.Default.Validate(); err != nil {
			return fmt.Errorf("default rule: %w", err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(rs.ByName)) {
		if strings.TrimSpace(name) == "" {
			return fmt.Errorf("%w: ByName has an empty name", ErrInvalidRule)
		}
		if err := rs.ByName[name].Validate(); err != nil {
			return fmt.Errorf("rule %q: %w", name, err)
		}
	}
	return nil
}

// Validate checks that the rule can work: someone is eligible, the quorum
// is reachable, durations are sane and tiers are ordered before the
// deadline. Errors wrap ErrInvalidRule and name the field.
func (r Rule) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidRule, fmt.Sprintf(format, args...))
	}
	if err := checkNames("Eligible", r.Eligible, r.Groups); err != nil {
		return bad("%v", err)
	}
	if r.Quorum < 0 {
		return bad("Quorum is negative")
	}
	if r.Deadline < 0 {
		return bad("Deadline is negative")
	}
	if r.RemindEvery < 0 || (r.RemindEvery > 0 && r.RemindEvery < MinRemindEvery) {
		return bad("RemindEvery is %s; use 0 (no reminders) or at least %s", r.RemindEvery, MinRemindEvery)
	}
	var prev time.Duration
	for i, t := range r.Escalation {
		if t.After <= prev {
			return bad("Escalation[%d].After is %s, not after the previous tier (%s)", i, t.After, prev)
		}
		if r.Deadline > 0 && t.After >= r.Deadline {
			return bad("Escalation[%d].After (%s) is not before the Deadline (%s); the tier would never be told", i, t.After, r.Deadline)
		}
		if err := checkNames(fmt.Sprintf("Escalation[%d].Approvers", i), t.Approvers, t.Groups); err != nil {
			return bad("%v", err)
		}
		if len(t.Approvers) == 0 && len(t.Groups) == 0 {
			return bad("Escalation[%d] names nobody", i)
		}
		prev = t.After
	}
	all := r.everyone()
	if len(all) == 0 {
		return bad("nobody is eligible (set Eligible, Groups or Escalation)")
	}
	if q := max(r.Quorum, 1); q > len(all) {
		return bad("Quorum %d exceeds the %d distinct eligible approvers", q, len(all))
	}
	return nil
}

func checkNames(field string, ids []string, groups map[string][]string) error {
	for i, id := range ids {
		if strings.TrimSpace(id) == "" {
			return fmt.Errorf("%s[%d] is empty", field, i)
		}
	}
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		if strings.TrimSpace(g) == "" {
			return fmt.Errorf("a group of %s has an empty name", field)
		}
		if len(groups[g]) == 0 {
			return fmt.Errorf("group %q has no members", g)
		}
		for i, id := range groups[g] {
			if strings.TrimSpace(id) == "" {
				return fmt.Errorf("group %q member %d is empty", g, i)
			}
		}
	}
	return nil
}

// addNames appends ids and group members to out, without duplicates
// (case-insensitive).
func addNames(out []string, ids []string, groups map[string][]string) []string {
	add := func(id string) {
		id = strings.TrimSpace(id)
		if id != "" && !containsFold(out, id) {
			out = append(out, id)
		}
	}
	for _, id := range ids {
		add(id)
	}
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		for _, id := range groups[g] {
			add(id)
		}
	}
	return out
}

func containsFold(list []string, s string) bool {
	s = strings.TrimSpace(s)
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(strings.TrimSpace(x), s) })
}

// everyone returns every identity the rule can ever make eligible.
func (r Rule) everyone() []string {
	out := addNames(nil, r.Eligible, r.Groups)
	for _, t := range r.Escalation {
		out = addNames(out, t.Approvers, t.Groups)
	}
	return out
}

// EligibleAt returns the identities eligible under r for req at time at:
// the rule's own approvers and those of every tier reached by then, in
// order, without the case's subject or actor.
func (r Rule) EligibleAt(req playbook.ApprovalRequest, at time.Time) []string {
	out := addNames(nil, r.Eligible, r.Groups)
	for _, t := range r.Escalation {
		if at.Before(req.RequestedAt.Add(t.After)) {
			break
		}
		out = addNames(out, t.Approvers, t.Groups)
	}
	return withoutParties(req, out)
}

// TierApprovers returns the identities of escalation tier (from 1),
// without the case's subject or actor, or nil when there is no such tier.
func (r Rule) TierApprovers(req playbook.ApprovalRequest, tier int) []string {
	if tier < 1 || tier > len(r.Escalation) {
		return nil
	}
	t := r.Escalation[tier-1]
	return withoutParties(req, addNames(nil, t.Approvers, t.Groups))
}

// withoutParties drops the subject's identities and the actor: they would
// be refused anyway, so they are not asked.
func withoutParties(req playbook.ApprovalRequest, ids []string) []string {
	return slices.DeleteFunc(ids, func(id string) bool {
		return req.Subject.Matches(id) || containsFold(req.Identities, id) ||
			(req.Actor != "" && strings.EqualFold(strings.TrimSpace(req.Actor), id))
	})
}

// decisiveAt reports whether approver belongs to a Decisive tier reached at
// time at.
func (r Rule) decisiveAt(req playbook.ApprovalRequest, approver string, at time.Time) bool {
	for _, t := range r.Escalation {
		if at.Before(req.RequestedAt.Add(t.After)) {
			return false
		}
		if t.Decisive && containsFold(addNames(nil, t.Approvers, t.Groups), approver) {
			return true
		}
	}
	return false
}

// Evaluate applies the request's rule to verdict v (see
// playbook.VerdictEvaluator): an approver who is not eligible when the
// verdict is given is refused with ErrIneligible; an eligible denial
// denies; an approval settles the request once Quorum distinct eligible
// approvers approved, or at once from a Decisive tier. Prior verdicts are
// those the runner already accepted.
func (rs Rules) Evaluate(req playbook.ApprovalRequest, prior []playbook.Verdict, v playbook.Verdict) (playbook.ApprovalStatus, error) {
	name := req.Decision.Approval
	r, err := rs.Rule(name)
	if err != nil {
		return "", err
	}
	label := "the default rule"
	if name != "" {
		label = fmt.Sprintf("rule %q", name)
	}
	if !containsFold(r.EligibleAt(req, v.At), v.Approver) {
		if containsFold(r.everyone(), v.Approver) && !containsFold(withoutParties(req, r.everyone()), v.Approver) {
			return "", fmt.Errorf("%w: %q is a party to the case under %s", ErrIneligible, v.Approver, label)
		}
		if containsFold(r.everyone(), v.Approver) {
			return "", fmt.Errorf("%w: %q belongs to an escalation tier of %s that was not reached yet", ErrIneligible, v.Approver, label)
		}
		return "", fmt.Errorf("%w: %q is not an approver under %s", ErrIneligible, v.Approver, label)
	}
	if !v.Approve {
		return playbook.ApprovalDenied, nil
	}
	if r.decisiveAt(req, v.Approver, v.At) {
		return playbook.ApprovalApproved, nil
	}
	approvers := []string{strings.TrimSpace(v.Approver)}
	for _, p := range prior {
		if p.Approve && !containsFold(approvers, p.Approver) {
			approvers = append(approvers, strings.TrimSpace(p.Approver))
		}
	}
	if len(approvers) >= max(r.Quorum, 1) {
		return playbook.ApprovalApproved, nil
	}
	return playbook.ApprovalPending, nil
}

// ApprovalSchedule returns the deadline, reminder interval and escalation
// times of the rule d names (see playbook.ApprovalScheduler).
func (rs Rules) ApprovalSchedule(d playbook.Decision) (playbook.ApprovalSchedule, error) {
	r, err := rs.Rule(d.Approval)
	if err != nil {
		return playbook.ApprovalSchedule{}, err
	}
	s := playbook.ApprovalSchedule{Timeout: r.Deadline, RemindEvery: r.RemindEvery}
	for _, t := range r.Escalation {
		s.Escalations = append(s.Escalations, t.After)
	}
	return s, nil
}

// Recipients returns who should hear about req for a notice of kind at
// time at: for a new request (kind "") and for a reminder, everyone
// eligible at that time who has not voted; for an escalation, the tier's
// approvers. The subject and actor are never included.
func (rs Rules) Recipients(req playbook.ApprovalRequest, kind playbook.NoticeKind, tier int, voted []playbook.Verdict, at time.Time) ([]string, error) {
	r, err := rs.Rule(req.Decision.Approval)
	if err != nil {
		return nil, err
	}
	var out []string
	switch kind {
	case "", playbook.NoticeReminder:
		out = r.EligibleAt(req, at)
	case playbook.NoticeEscalation:
		out = r.TierApprovers(req, tier)
	default:
		return nil, nil
	}
	return slices.DeleteFunc(out, func(id string) bool {
		return slices.ContainsFunc(voted, func(v playbook.Verdict) bool { return strings.EqualFold(strings.TrimSpace(v.Approver), id) })
	}), nil
}
