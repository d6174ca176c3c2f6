// Package decide holds the policies that turn an enriched case into a
// playbook.Decision: the risk × privilege matrix, first-match rules, and
// the decorators that shield protected (break-glass) accounts and bound
// automatic containment.
//
// Like a compiled expression, every policy checks its configuration in its
// constructor, which returns an error naming the bad field; Decide is then
// cheap, safe for concurrent use, never modifies the case, and reads time
// only from c.Now, so replaying a run reproduces its decision. Every
// decision names the rule that produced it in Decision.Rule, and every
// policy implements playbook.ActionNamer so that a playbook missing one of
// its actions is rejected before it runs. Decorators keep the ActionNamer
// of the policy they wrap.
//
// # The risk × privilege matrix
//
// Matrix builds the default policy. Risk is CaseRisk: the higher of the
// event's risk and the subject's current risk at the provider
// (c.Facts.Risk). Privilege is c.Facts.Privilege, raised to privileged when
// MatrixConfig.PrivilegedRoles is set and c.Facts.Roles holds one of them
// (see RoleSet.Classify). An unknown privilege — the enrichment failed or
// never ran — is treated as privileged and is never contained
// automatically. With the zero MatrixConfig, and containment meaning
// disable-user then revoke-sessions:
//
//	| risk        | privileged                  | standard                    | unknown                     |
//	|-------------|-----------------------------|-----------------------------|-----------------------------|
//	| high        | approve, containment        | contain, containment        | approve, containment        |
//	|             | matrix/high-privileged      | matrix/high-standard        | matrix/high-unknown         |
//	| medium      | monitor                     | monitor                     | monitor                     |
//	|             | matrix/medium-privileged    | matrix/medium-standard      | matrix/medium-unknown       |
//	| low, none   | log                         | log                         | log                         |
//	|             | matrix/low-privileged       | matrix/low-standard         | matrix/low-unknown          |
//
// Each privileged and standard cell is configurable (MatrixConfig.HighPrivileged,
// ...); the unknown column follows the privileged one, except that contain
// becomes approve there.
//
// Privilege events are decided before the matrix, whatever the privilege
// column, because their containment is to undo the grant:
//
//	| event                              | risk        | decision                                                  | rule                            |
//	|------------------------------------|-------------|-----------------------------------------------------------|---------------------------------|
//	| privilege.role_assigned            | below high  | approve: remove-role {role: attributes["role"]}           | matrix/role-assigned            |
//	| privilege.role_assigned            | high        | approve: remove-role, then containment                    | matrix/role-assigned-high-risk  |
//	| privilege.role_assigned, no role   | any         | escalate (the assignment to remove is unknown)            | matrix/role-assigned-incomplete |
//	| privilege.group_member_added       | below high  | approve: remove-group-member {group: attributes["group"]} | matrix/group-added              |
//	| privilege.group_member_added       | high        | approve: remove-group-member, then containment            | matrix/group-added-high-risk    |
//	| privilege.group_member_added, none | any         | escalate (the group to leave is unknown)                  | matrix/group-added-incomplete   |
//
// MatrixConfig.PrivilegeGrant changes the below-high response (for example
// contain, to revert out-of-band grants at once); the high-risk rows use
// the high-privileged cell, since the subject now holds the privilege.
// Approval decisions carry MatrixConfig.Approval as their approval rule.
//
// # First-match rules
//
// NewRules builds a policy from an ordered list of Rule values, each a
// Match predicate and a decision, and a required fallback. Predicates
// compose: And(RiskAtLeast(playbook.RiskHigh), Not(HasTag("service-account"))).
//
// # Decorators
//
// Protect never lets a protected account be contained automatically: a
// contain decision becomes escalate (rule protect/break-glass); an
// approval stays an approval, optionally routed to a stricter approval
// rule or escalated. Budget lets at most N contain decisions through per
// sliding window of c.Now and turns the rest into approval requests (rule
// budget/exceeded). Compose them as Budget(Protect(policy)), so that a
// protected account's escalation does not consume budget; DefaultPolicy
// does so.
//
// # Privilege from roles
//
// DefaultPrivilegedRoles lists the Entra role template ids and Okta admin
// role types that make an account privileged; RoleSet classifies facts with
// such a list, and PrivilegeEnricher records the result on the case for
// playbooks that want it in the enrichment trail.
package decide
