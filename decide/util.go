package decide

import (
	"maps"
	"slices"

	"github.com/iamplaybook/iamplaybook/playbook"
)

func collectActions(into map[string]bool, d playbook.Decision) {
	for _, s := range d.Steps {
		into[s.Action] = true
	}
}

func sortedKeys(m map[string]bool) []string {
	return slices.Sorted(maps.Keys(m))
}

func stepNames(steps []playbook.Step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.Action
	}
	return out
}

// namedPolicy is a decorator that lists the approval rules it and its inner
// policy may name.
type namedPolicy interface {
	playbook.Policy
	playbook.ApprovalNamer
}

// withNames returns outer, also implementing playbook.ActionNamer when
// inner does, so that decorators keep the inner policy's action list.
func withNames(outer namedPolicy, inner playbook.Policy) playbook.Policy {
	if n, ok := inner.(playbook.ActionNamer); ok {
		return struct {
			namedPolicy
			playbook.ActionNamer
		}{outer, n}
	}
	return outer
}

// cloneDecision is playbook.Decision.Clone without its generic slice
// growth: policies return a copy of a prepared decision on every call.
func cloneDecision(d *playbook.Decision) playbook.Decision {
	out := *d
	if d.Steps != nil {
		out.Steps = make([]playbook.Step, len(d.Steps))
		copy(out.Steps, d.Steps)
		for i := range out.Steps {
			if out.Steps[i].Params != nil {
				out.Steps[i].Params = maps.Clone(out.Steps[i].Params)
			}
		}
	}
	if d.Notes != nil {
		out.Notes = slices.Clone(d.Notes)
	}
	return out
}
