// Package approve holds approvers: the parts of a playbook that tell people
// a decision awaits their verdict, and the rules that decide whose verdict
// counts.
//
// The runner itself enforces the rules no approver can relax: the subject
// of a case and the actor who caused its event can never approve it, nobody
// votes twice, a verdict after the deadline is refused, and an unanswered
// request is denied and escalated when its deadline passes — never approved
// by default.
//
// [Queue] is the in-memory approver for tests and programs that answer
// requests themselves; [AlwaysDeny] and [AlwaysApprove] answer every request at
// once, for scripted scenarios. Verdicts reach the runner through a
// [Submitter] (a *playbook.Runner is one), bound after the runner is built.
package approve
