// Package web is the browser channel for approvals: an http.Handler that
// serves one page per approver behind a signed, expiring, single-use link,
// and an Approver that sends those links.
//
// A link carries the approval id, the approver's identity and an expiry,
// signed with HMAC-SHA256 under the host's key; the handler checks the
// signature in constant time, so a forged link or one whose id, approver or
// expiry was altered is refused, as is an expired one. Opening the link
// (GET) only shows the case — subject, signal, reason, the containment that
// would run — with Approve and Deny buttons; nothing is recorded, so a chat
// or mail link-preview bot that fetches the link cannot approve. Only a POST
// of the rendered form records a verdict: it must carry the form's token
// (an HMAC bound to the link, the case summary shown and the time it was
// rendered) and come from the handler's own origin. The link is then used:
// a second use is refused (see UsedTokens for what a restart forgets).
// Refused links are audited when Config.Audit is set; verdicts the runner
// refuses (self-approval, double vote, ineligible approver, late verdict)
// are audited by the runner.
//
// The pages are plain server-rendered HTML (html/template), readable
// without JavaScript or external assets, with labelled controls and a
// strict Content-Security-Policy, no framing, no referrer and no caching.
//
// Approver invites the approvers an approve.Rules makes eligible, re-invites
// on reminders, and invites each escalation tier when it is reached.
package web
