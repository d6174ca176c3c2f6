package decide

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Rule is one entry of a first-match policy: when When matches a case, the
// policy returns Decision with Decision.Rule set to Name.
type Rule struct {
	// Name identifies the rule in decisions and the audit trail. Required,
	// unique within a policy.
	Name string
	// When selects the cases the rule applies to. Required for the rules
	// given to NewRules; must be unset for the fallback, which matches
	// every case.
	When Match
	// Decision is returned when the rule matches. Decision.Rule may be left
	// empty (it is filled with Name) or equal Name. It must pass
	// playbook.Decision.Validate: steps only for RespondContain and
	// RespondApprove, at least one for them. When Reason is empty it is
	// filled with a description of the rule and its predicate.
	Decision playbook.Decision
}

// Rules is a first-match policy built by NewRules. It is immutable and safe
// for concurrent use.
type Rules struct {
	rules    []Rule
	fallback playbook.Decision
	names    []string
}

var (
	_ playbook.Policy      = (*Rules)(nil)
	_ playbook.ActionNamer = (*Rules)(nil)
)

// NewRules returns a policy that decides each case with the first rule, in
// order, whose When matches it, and with fallback when none does, so that no
// case is left undecided.
//
// Everything is checked here, once, and the error names the field at fault:
// an empty or duplicate Name, an unset or invalid When, a Decision that
// fails playbook.Decision.Validate (unknown response, steps on a response
// that runs none, missing steps, a step without action), a Decision.Rule
// that differs from Name, and a missing fallback (fallback.Name empty). The
// rules are copied; the caller may reuse the slice.
func NewRules(rules []Rule, fallback Rule) (*Rules, error) {
	p := &Rules{rules: make([]Rule, 0, len(rules))}
	seen := make(map[string]bool, len(rules)+1)
	names := make(map[string]bool)
	for i, r := range rules {
		field := fmt.Sprintf("rules[%d]", i)
		if err := checkRule(&r, field, seen); err != nil {
			return nil, err
		}
		if err := r.When.Err(); err != nil {
			return nil, fmt.Errorf("decide: %s (%q).When: %w", field, r.Name, err)
		}
		collectActions(names, r.Decision)
		p.rules = append(p.rules, r)
	}
	if fallback.Name == "" && fallback.When.fn == nil && fallback.When.err == nil && fallback.Decision.Response == "" {
		return nil, errors.New("decide: fallback is required: NewRules needs a default rule so that no case is undecided")
	}
	if err := checkRule(&fallback, "fallback", seen); err != nil {
		return nil, err
	}
	if fallback.When.fn != nil || fallback.When.err != nil {
		return nil, fmt.Errorf("decide: fallback (%q).When must be unset: the fallback matches every case", fallback.Name)
	}
	collectActions(names, fallback.Decision)
	p.fallback = fallback.Decision
	p.names = sortedKeys(names)
	return p, nil
}

func checkRule(r *Rule, field string, seen map[string]bool) error {
	if strings.TrimSpace(r.Name) == "" {
		return fmt.Errorf("decide: %s.Name is empty", field)
	}
	if seen[r.Name] {
		return fmt.Errorf("decide: %s.Name %q is used by an earlier rule", field, r.Name)
	}
	seen[r.Name] = true
	d := r.Decision.Clone()
	if d.Rule != "" && d.Rule != r.Name {
		return fmt.Errorf("decide: %s (%q).Decision.Rule is %q; leave it empty or equal to Name", field, r.Name, d.Rule)
	}
	d.Rule = r.Name
	if err := d.Validate(); err != nil {
		return fmt.Errorf("decide: %s (%q).Decision: %w", field, r.Name, err)
	}
	if d.Reason == "" {
		if r.When.fn != nil {
			d.Reason = fmt.Sprintf("rule %s: %s", r.Name, r.When)
		} else {
			d.Reason = fmt.Sprintf("rule %s: no earlier rule matched", r.Name)
		}
	}
	r.Decision = d
	return nil
}

// Decide returns a copy of the first matching rule's decision, or of the
// fallback's. It returns an error only for a nil case or a cancelled ctx.
func (p *Rules) Decide(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
	if err := checkCase(ctx, c); err != nil {
		return playbook.Decision{}, err
	}
	for i := range p.rules {
		if p.rules[i].When.fn(c) {
			return cloneDecision(&p.rules[i].Decision), nil
		}
	}
	return cloneDecision(&p.fallback), nil
}

// ActionNames lists, sorted and without duplicates, every action named by a
// step of any rule or of the fallback.
func (p *Rules) ActionNames() []string { return append([]string(nil), p.names...) }

func checkCase(ctx context.Context, c *playbook.Case) error {
	if c == nil {
		return errors.New("decide: nil case")
	}
	if ctx == nil {
		return errors.New("decide: nil context")
	}
	return ctx.Err()
}
