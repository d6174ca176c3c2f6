package decide

import (
	"slices"

	"github.com/iamplaybook/iamplaybook/playbook"
)

var (
	_ playbook.ApprovalNamer = (*RiskMatrix)(nil)
	_ playbook.ApprovalNamer = (*Rules)(nil)
	_ playbook.ApprovalNamer = (*protector)(nil)
	_ playbook.ApprovalNamer = (*budget)(nil)
)

// ApprovalNames returns the approval rule the matrix puts on its approval
// decisions, if it names one, so that a playbook naming a rule its
// ApprovalRule does not define is refused when it is built.
func (m *RiskMatrix) ApprovalNames() []string { return nonEmpty(m.approval) }

// ApprovalNames returns the approval rules named by the rules' and the
// fallback's decisions.
func (p *Rules) ApprovalNames() []string {
	names := nonEmpty(p.fallback.Approval)
	for _, r := range p.rules {
		names = append(names, nonEmpty(r.Decision.Approval)...)
	}
	return names
}

// ApprovalNames returns the stricter rule for protected accounts and the
// names of the wrapped policy.
func (p *protector) ApprovalNames() []string {
	return append(nonEmpty(p.approval), innerApprovalNames(p.inner)...)
}

// ApprovalNames returns the rule over-budget approvals go to and the names
// of the wrapped policy.
func (b *budget) ApprovalNames() []string {
	return append(nonEmpty(b.approval), innerApprovalNames(b.inner)...)
}

// innerApprovalNames returns the names a wrapped policy lists; a policy
// that cannot list them contributes none (its names are then checked when
// its first decision names them).
func innerApprovalNames(p playbook.Policy) []string {
	if n, ok := p.(playbook.ApprovalNamer); ok {
		return slices.Clone(n.ApprovalNames())
	}
	return nil
}

func nonEmpty(name string) []string {
	if name == "" {
		return nil
	}
	return []string{name}
}
