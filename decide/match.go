package decide

import (
	"errors"
	"fmt"
	"strings"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Match is a predicate over a case, used as Rule.When. Build one with the
// helpers of this package (RiskAtLeast, Privileged, EventType, HasTag,
// Protected, Always) or with Predicate for a custom test, and compose them
// with And, Or and Not.
//
// A Match is an immutable value, safe for concurrent use. Helpers given bad
// arguments do not panic: they return a Match that carries the error, which
// NewRules reports, and which never matches if evaluated anyway. The zero
// Match is invalid (NewRules rejects it) and never matches.
type Match struct {
	desc string
	fn   func(c *playbook.Case) bool
	err  error
}

// Predicate returns a Match that calls fn. name describes the test in
// decision reasons ("contractor"); both are required. fn must be safe for
// concurrent use, must not modify the case and should depend only on it
// (reading time from c.Now), so that a replayed run reproduces its decision.
// The case passed to fn is never nil.
func Predicate(name string, fn func(c *playbook.Case) bool) Match {
	switch {
	case strings.TrimSpace(name) == "":
		return invalid(errors.New("Predicate: name is empty"))
	case fn == nil:
		return invalid(fmt.Errorf("Predicate %q: fn is nil", name))
	}
	return Match{desc: name, fn: fn}
}

func invalid(err error) Match { return Match{desc: "invalid", err: err} }

// Eval reports whether the case satisfies m. A nil case, the zero Match and
// an invalid Match never match.
func (m Match) Eval(c *playbook.Case) bool {
	if m.fn == nil || m.err != nil || c == nil {
		return false
	}
	return m.fn(c)
}

// Err returns the error of a Match built from bad arguments, or of the zero
// Match, and nil for a usable one.
func (m Match) Err() error {
	if m.err != nil {
		return m.err
	}
	if m.fn == nil {
		return errors.New("match is unset")
	}
	return nil
}

// String describes the predicate ("risk>=high && privileged").
func (m Match) String() string {
	if m.fn == nil && m.err == nil {
		return "unset"
	}
	return m.desc
}

// Always matches every case.
func Always() Match {
	return Match{desc: "always", fn: func(*playbook.Case) bool { return true }}
}

// CaseRisk returns the risk a policy should act on: the higher of the
// event's risk and the subject's current risk at the provider
// (c.Facts.Risk).
func CaseRisk(c *playbook.Case) playbook.RiskLevel {
	return max(c.Event.Risk, c.Facts.Risk)
}

// RiskAtLeast matches cases whose CaseRisk is l or higher.
func RiskAtLeast(l playbook.RiskLevel) Match {
	if l < playbook.RiskNone || l > playbook.RiskHigh {
		return invalid(fmt.Errorf("RiskAtLeast: invalid risk level %d", int(l)))
	}
	return Match{desc: "risk>=" + l.String(), fn: func(c *playbook.Case) bool { return CaseRisk(c) >= l }}
}

// Privileged matches subjects whose c.Facts.Privilege is not
// PrivilegeStandard: PrivilegeUnknown counts as privileged, so that a failed
// enrichment never routes a case to a rule meant for standard users.
func Privileged() Match {
	return Match{desc: "privileged", fn: func(c *playbook.Case) bool {
		return c.Facts.Privilege != playbook.PrivilegeStandard
	}}
}

// EventType matches cases whose event has one of the given types. At least
// one non-empty type is required.
func EventType(types ...playbook.EventType) Match {
	if len(types) == 0 {
		return invalid(errors.New("EventType: no event type given"))
	}
	names := make([]string, len(types))
	for i, t := range types {
		if t == "" {
			return invalid(fmt.Errorf("EventType: type %d is empty", i))
		}
		names[i] = string(t)
	}
	set := make(map[playbook.EventType]bool, len(types))
	for _, t := range types {
		set[t] = true
	}
	return Match{desc: "type in [" + strings.Join(names, ",") + "]", fn: func(c *playbook.Case) bool {
		return set[c.Event.Type]
	}}
}

// HasTag matches subjects whose c.Facts.Tags hold tag, compared
// case-insensitively. The tag must not be empty.
func HasTag(tag string) Match {
	if strings.TrimSpace(tag) == "" {
		return invalid(errors.New("HasTag: tag is empty"))
	}
	return Match{desc: "tag " + tag, fn: func(c *playbook.Case) bool { return hasTagFold(c.Facts.Tags, tag) }}
}

// Protected matches subjects an enricher marked protected
// (c.Facts.Protected).
func Protected() Match {
	return Match{desc: "protected", fn: func(c *playbook.Case) bool { return c.Facts.Protected }}
}

// And matches when every operand matches; it evaluates left to right and
// stops at the first miss. At least one operand is required, and an invalid
// operand makes the result invalid.
func And(ms ...Match) Match { return combine("And", " && ", true, ms) }

// Or matches when any operand matches; it evaluates left to right and stops
// at the first hit. At least one operand is required, and an invalid
// operand makes the result invalid.
func Or(ms ...Match) Match { return combine("Or", " || ", false, ms) }

func combine(op, sep string, all bool, ms []Match) Match {
	if len(ms) == 0 {
		return invalid(fmt.Errorf("%s: no operand given", op))
	}
	descs := make([]string, len(ms))
	for i, m := range ms {
		if err := m.Err(); err != nil {
			return invalid(fmt.Errorf("%s operand %d: %w", op, i, err))
		}
		descs[i] = m.desc
	}
	ms = append([]Match(nil), ms...)
	fn := func(c *playbook.Case) bool {
		for _, m := range ms {
			if m.fn(c) != all {
				return !all
			}
		}
		return all
	}
	return Match{desc: "(" + strings.Join(descs, sep) + ")", fn: fn}
}

// Not matches when m does not. An invalid m makes the result invalid.
func Not(m Match) Match {
	if err := m.Err(); err != nil {
		return invalid(fmt.Errorf("Not: %w", err))
	}
	return Match{desc: "!" + m.desc, fn: func(c *playbook.Case) bool { return !m.fn(c) }}
}

func hasTagFold(tags []string, tag string) bool {
	for _, t := range tags {
		if strings.EqualFold(t, tag) {
			return true
		}
	}
	return false
}
