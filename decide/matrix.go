package decide

import (
	"context"
	"fmt"
	"strings"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// MatrixConfig configures the risk × privilege matrix. The zero value is
// the default matrix described in the package documentation; every zero
// field takes its default.
type MatrixConfig struct {
	// Containment are the steps run by cells whose response runs steps
	// (RespondContain, RespondApprove). Default: ActionDisableUser, then
	// ActionRevokeSessions. Every step must name an action.
	Containment []playbook.Step

	// The cells: the response for each risk row and privilege column. Risk
	// is CaseRisk (the higher of the event's and the provider's); "Low"
	// covers RiskLow and RiskNone. A subject whose privilege is unknown
	// uses the Privileged cell, except that RespondContain there becomes
	// RespondApprove: without knowing the privilege, nothing is contained
	// automatically.
	HighPrivileged   playbook.Response // default RespondApprove
	HighStandard     playbook.Response // default RespondContain
	MediumPrivileged playbook.Response // default RespondMonitor
	MediumStandard   playbook.Response // default RespondMonitor
	LowPrivileged    playbook.Response // default RespondLog
	LowStandard      playbook.Response // default RespondLog

	// PrivilegeGrant is the response to a privilege event
	// (playbook.EventRoleAssigned, playbook.EventPrivilegedGroupAdded) whose
	// risk is below high: its step removes the granted role
	// (playbook.ActionRemoveRole with Params["role"]) or group membership
	// (playbook.ActionRemoveGroupMember with Params["group"]), named by the
	// event attribute of the same name. Default RespondApprove. A high-risk
	// privilege event uses the HighPrivileged cell (the subject now holds
	// the privilege) with the removal step first, then Containment.
	PrivilegeGrant playbook.Response

	// PrivilegedRoles, when not empty, makes the matrix derive the
	// subject's privilege itself from c.Facts.Roles at decision time (see
	// RoleSet.Classify), on top of c.Facts.Privilege; DefaultPrivilegedRoles
	// is a good start. Empty: the matrix uses c.Facts.Privilege as the
	// enrichers set it.
	PrivilegedRoles []string

	// Approval names the approval rule put on every RespondApprove
	// decision (playbook.Decision.Approval); empty means the approver's
	// default.
	Approval string
}

// Rule names of the matrix, as they appear in Decision.Rule.
const (
	RuleHighPrivileged   = "matrix/high-privileged"
	RuleHighStandard     = "matrix/high-standard"
	RuleHighUnknown      = "matrix/high-unknown"
	RuleMediumPrivileged = "matrix/medium-privileged"
	RuleMediumStandard   = "matrix/medium-standard"
	RuleMediumUnknown    = "matrix/medium-unknown"
	RuleLowPrivileged    = "matrix/low-privileged"
	RuleLowStandard      = "matrix/low-standard"
	RuleLowUnknown       = "matrix/low-unknown"

	RuleRoleAssigned           = "matrix/role-assigned"
	RuleRoleAssignedHighRisk   = "matrix/role-assigned-high-risk"
	RuleRoleAssignedIncomplete = "matrix/role-assigned-incomplete"
	RuleGroupAdded             = "matrix/group-added"
	RuleGroupAddedHighRisk     = "matrix/group-added-high-risk"
	RuleGroupAddedIncomplete   = "matrix/group-added-incomplete"
)

// RiskMatrix is the risk × privilege policy built by Matrix. It is
// immutable and safe for concurrent use; Decide allocates only the returned
// decision.
type RiskMatrix struct {
	// cells[row][col]: row 0 high, 1 medium, 2 low; col 0 privileged,
	// 1 standard, 2 unknown.
	cells       [3][3]playbook.Decision
	highPriv    playbook.Response
	grant       playbook.Response
	containment []playbook.Step
	approval    string
	roles       *RoleSet
	names       []string
}

var (
	_ playbook.Policy      = (*RiskMatrix)(nil)
	_ playbook.ActionNamer = (*RiskMatrix)(nil)
)

// Matrix validates cfg and returns the risk × privilege policy. The error
// names the field at fault: an unknown response in a cell or in
// PrivilegeGrant, a Containment step without action, an empty entry of
// PrivilegedRoles.
//
// The matrix does not look at protected accounts or count containments:
// wrap it in Protect and Budget, as DefaultPolicy does.
func Matrix(cfg MatrixConfig) (*RiskMatrix, error) {
	m := &RiskMatrix{approval: cfg.Approval}
	if len(cfg.Containment) == 0 {
		m.containment = []playbook.Step{{Action: playbook.ActionDisableUser}, {Action: playbook.ActionRevokeSessions}}
	} else {
		m.containment = playbook.Decision{Steps: cfg.Containment}.Clone().Steps
		for i, s := range m.containment {
			if strings.TrimSpace(s.Action) == "" {
				return nil, fmt.Errorf("decide: MatrixConfig.Containment[%d].Action is empty", i)
			}
		}
	}
	if len(cfg.PrivilegedRoles) > 0 {
		s, err := NewRoleSet(cfg.PrivilegedRoles)
		if err != nil {
			return nil, fmt.Errorf("decide: MatrixConfig.PrivilegedRoles: %w", err)
		}
		m.roles = s
	}
	resolve := func(field string, r, def playbook.Response) (playbook.Response, error) {
		if r == "" {
			return def, nil
		}
		if !r.Valid() {
			return "", fmt.Errorf("decide: MatrixConfig.%s: unknown response %q", field, r)
		}
		return r, nil
	}
	type cell struct {
		field    string
		resp     playbook.Response
		def      playbook.Response
		row, col int
		rule     string
	}
	specs := []cell{
		{"HighPrivileged", cfg.HighPrivileged, playbook.RespondApprove, 0, 0, RuleHighPrivileged},
		{"HighStandard", cfg.HighStandard, playbook.RespondContain, 0, 1, RuleHighStandard},
		{"MediumPrivileged", cfg.MediumPrivileged, playbook.RespondMonitor, 1, 0, RuleMediumPrivileged},
		{"MediumStandard", cfg.MediumStandard, playbook.RespondMonitor, 1, 1, RuleMediumStandard},
		{"LowPrivileged", cfg.LowPrivileged, playbook.RespondLog, 2, 0, RuleLowPrivileged},
		{"LowStandard", cfg.LowStandard, playbook.RespondLog, 2, 1, RuleLowStandard},
	}
	rows := [3]string{"high", "medium", "low"}
	unknownRules := [3]string{RuleHighUnknown, RuleMediumUnknown, RuleLowUnknown}
	names := make(map[string]bool)
	for _, sp := range specs {
		r, err := resolve(sp.field, sp.resp, sp.def)
		if err != nil {
			return nil, err
		}
		who := "standard subject"
		if sp.col == 0 {
			who = "privileged subject"
		}
		m.cells[sp.row][sp.col] = m.decision(r, sp.rule, fmt.Sprintf("%s risk, %s: %s", rows[sp.row], who, verb(r)), nil)
		if sp.col == 0 {
			u := r
			if u == playbook.RespondContain {
				u = playbook.RespondApprove
			}
			m.cells[sp.row][2] = m.decision(u, unknownRules[sp.row],
				fmt.Sprintf("%s risk, privilege unknown (treated as privileged): %s", rows[sp.row], verb(u)), nil)
		}
	}
	m.highPriv, _ = resolve("HighPrivileged", cfg.HighPrivileged, playbook.RespondApprove)
	g, err := resolve("PrivilegeGrant", cfg.PrivilegeGrant, playbook.RespondApprove)
	if err != nil {
		return nil, err
	}
	m.grant = g
	for _, row := range m.cells {
		for _, d := range row {
			if err := d.Validate(); err != nil {
				return nil, fmt.Errorf("decide: matrix cell %s: %w", d.Rule, err)
			}
			collectActions(names, d)
		}
	}
	if runsSteps(m.grant) || runsSteps(m.highPriv) {
		names[playbook.ActionRemoveRole] = true
		names[playbook.ActionRemoveGroupMember] = true
	}
	if runsSteps(m.highPriv) {
		for _, s := range m.containment {
			names[s.Action] = true
		}
	}
	m.names = sortedKeys(names)
	return m, nil
}

// decision builds a decision for response r, attaching the containment
// steps (after prefix) when r runs steps.
func (m *RiskMatrix) decision(r playbook.Response, rule, reason string, prefix []playbook.Step) playbook.Decision {
	d := playbook.Decision{Response: r, Rule: rule, Reason: reason}
	if runsSteps(r) {
		d.Steps = append(prefix, playbook.Decision{Steps: m.containment}.Clone().Steps...)
	}
	if r == playbook.RespondApprove {
		d.Approval = m.approval
	}
	return d
}

func runsSteps(r playbook.Response) bool {
	return r == playbook.RespondContain || r == playbook.RespondApprove
}

func verb(r playbook.Response) string {
	switch r {
	case playbook.RespondContain:
		return "automatic containment"
	case playbook.RespondApprove:
		return "containment after approval"
	case playbook.RespondEscalate:
		return "escalation to people, no containment"
	case playbook.RespondMonitor:
		return "notify and monitor"
	default:
		return "log only"
	}
}

// Decide returns the decision of the case's cell; see the package
// documentation for the table. It returns an error, which escalates the
// run, for a nil case, a cancelled ctx, and a risk or privilege value
// outside the declared levels.
func (m *RiskMatrix) Decide(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
	if err := checkCase(ctx, c); err != nil {
		return playbook.Decision{}, err
	}
	if l := c.Event.Risk; l < playbook.RiskNone || l > playbook.RiskHigh {
		return playbook.Decision{}, fmt.Errorf("decide: matrix: event risk %d is not a risk level", int(l))
	}
	if l := c.Facts.Risk; l < playbook.RiskNone || l > playbook.RiskHigh {
		return playbook.Decision{}, fmt.Errorf("decide: matrix: facts risk %d is not a risk level", int(l))
	}
	risk := CaseRisk(c)
	switch c.Event.Type {
	case playbook.EventRoleAssigned:
		return m.grantDecision(c, risk, "role", playbook.ActionRemoveRole, RuleRoleAssigned, RuleRoleAssignedHighRisk, RuleRoleAssignedIncomplete), nil
	case playbook.EventPrivilegedGroupAdded:
		return m.grantDecision(c, risk, "group", playbook.ActionRemoveGroupMember, RuleGroupAdded, RuleGroupAddedHighRisk, RuleGroupAddedIncomplete), nil
	}
	priv := c.Facts.Privilege
	if m.roles != nil {
		priv = m.roles.Classify(&c.Facts)
	}
	col := 0
	switch priv {
	case playbook.PrivilegePrivileged:
		col = 0
	case playbook.PrivilegeStandard:
		col = 1
	case playbook.PrivilegeUnknown:
		col = 2
	default:
		return playbook.Decision{}, fmt.Errorf("decide: matrix: facts privilege %d is not a privilege level", int(priv))
	}
	row := 2
	switch risk {
	case playbook.RiskHigh:
		row = 0
	case playbook.RiskMedium:
		row = 1
	}
	return cloneDecision(&m.cells[row][col]), nil
}

func (m *RiskMatrix) grantDecision(c *playbook.Case, risk playbook.RiskLevel, attr, action, rule, highRule, incompleteRule string) playbook.Decision {
	what := strings.TrimSpace(c.Event.Attributes[attr])
	if what == "" {
		return playbook.Decision{
			Response: playbook.RespondEscalate,
			Rule:     incompleteRule,
			Reason:   fmt.Sprintf("privilege event %s names no %q attribute, so the grant to remove is unknown: escalation to people", c.Event.Type, attr),
		}
	}
	remove := playbook.Step{Action: action, Params: map[string]string{attr: what}}
	if risk == playbook.RiskHigh {
		d := m.decision(m.highPriv, highRule,
			fmt.Sprintf("%s %q granted to a high-risk subject: %s (removal first)", attr, what, verb(m.highPriv)),
			[]playbook.Step{remove})
		return d
	}
	d := playbook.Decision{
		Response: m.grant,
		Rule:     rule,
		Reason:   fmt.Sprintf("%s %q granted: %s", attr, what, grantVerb(m.grant)),
	}
	if runsSteps(m.grant) {
		d.Steps = []playbook.Step{remove}
	}
	if m.grant == playbook.RespondApprove {
		d.Approval = m.approval
	}
	return d
}

func grantVerb(r playbook.Response) string {
	switch r {
	case playbook.RespondContain:
		return "automatic removal"
	case playbook.RespondApprove:
		return "removal after approval"
	default:
		return verb(r)
	}
}

// ActionNames lists, sorted, every action the matrix can put in a
// decision: the containment steps of the cells that run steps, and
// ActionRemoveRole and ActionRemoveGroupMember when privilege events can
// run steps.
func (m *RiskMatrix) ActionNames() []string { return append([]string(nil), m.names...) }
