// Package slackapprove is the Slack approval channel: it posts approval
// requests to Slack as interactive messages and turns presses of their
// Approve and Deny buttons into verdicts.
//
// An [Approver] is a playbook.Approver: Request posts the case summary, the
// steps that would run, the deadline and two buttons, to a channel, to each
// approver in a direct message, or both. It is also a
// playbook.ApprovalFollower: once the request is settled, Follow replaces
// every message with the outcome and who decided (chat.update), so that
// nobody presses a stale button; reminders are replied in the message's
// thread, and an escalation posts the request to the next tier.
//
// [Approver.Handler] is the app's interactivity endpoint. It trusts nothing
// before checking Slack's v0 request signature (an HMAC-SHA256 of the
// timestamp and body with the app's signing secret, compared in constant
// time) and that the signed timestamp is within [SignatureWindow] of now, so
// that a captured request cannot be replayed later. The identity of the
// person who pressed a button is the e-mail address Slack returns for them
// (users.info); bots, deactivated accounts, guests and members of other
// workspaces are refused. The verdict then goes to the runner, which
// decides whether it counts: the playbook's approval rule judges
// eligibility and quorum, and the runner refuses self-approval, a second
// vote (so a request replayed inside the window changes nothing), and
// verdicts after the deadline or on a closed request. Every outcome,
// including every refusal, is told to the person in an ephemeral message;
// a refusal is never shown as a success.
//
// Wiring, in short:
//
//	ap, err := slackapprove.New(slackapprove.Config{
//		Client:        slack.New(botToken),
//		SigningSecret: signingSecret,
//		Channel:       "C0SECOPS",
//		Audit:         sink,
//	})
//	pb.Approver = ap
//	runner, err := playbook.NewRunner(pb, opts)
//	ap.Bind(runner)
//	mux.Handle("POST /slack/interactions", ap.Handler())
//
// Slack calls are retried after a rate limit, waiting the Retry-After Slack
// asks for, and Slack's errors are translated into *playbook.ProviderError
// values carrying the canonical errors (playbook.ErrThrottled,
// playbook.ErrNotFound, ...). Package slacktest emulates the Web API calls
// used, for tests.
package slackapprove
