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
// [Rules] are approval rules as data, selected by the name a decision
// carries (playbook.Decision.Approval): eligible approvers (identities and
// groups), an M-of-N quorum of distinct approvers, a deadline, reminders,
// and an escalation chain whose last tier can be a decisive fallback
// approver. Set them as Playbook.ApprovalRule: the runner validates them
// when the playbook is built, asks them to count every verdict (an
// ineligible approver is refused and audited), and takes each request's
// deadline, reminders and escalation times from them.
//
// [Queue] is the in-memory approver for tests and programs that answer
// requests themselves; [AlwaysDeny] and [AlwaysApprove] answer every request at
// once, for scripted scenarios. Verdicts reach the runner through a
// [Submitter] (a *playbook.Runner is one), bound after the runner is built.
// [Fanout] notifies several approvers and forwards reminders, escalations
// and outcomes to those that follow them. [Webhook] posts requests and
// notices as signed JSON to an on-call system, with retries.
//
// Package approve/web is the browser channel: signed, expiring, single-use
// links to approval pages.
package approve
