// Command okta is an identity-risk responder for one Okta org, a template
// for hosts: it polls the System Log and serves an Event Hook endpoint,
// turns Identity Threat Protection and privilege signals into playbook
// runs, enriches them from the Management API, decides with the risk ×
// privilege matrix, asks for approval before containing a privileged
// account, and suspends and clears the sessions of a standard account at
// high risk. Every step goes to a hash-chained JSON Lines audit file.
//
// It runs in shadow mode (dry-run: everything but Okta's write calls, and
// nobody is asked to approve) unless --enforce is given.
//
// # State
//
// Runs, their step journal, approvals waiting with their deadlines, the
// event de-duplication records, the System Log cursor and the containment
// idempotency records live in one SQLite file (--db, default
// iamplaybook.db in the working directory). A restart, a deploy or a crash
// loses nothing: the next start resumes unfinished runs, keeps waiting for
// the verdicts still due, escalates those whose deadline passed
// meanwhile, and polls the System Log from where the last start stopped,
// without emitting an event twice. One responder uses a file at a time: a second one started on
// the same file stops at once with an error naming the holder
// (playbook.ErrStoreLocked), before it reads Okta or opens the audit trail
// or a port.
//
// # Approvals
//
// With --approvers, each request invites every eligible approver with a
// personal link to the approval pages, signed with IAMPLAYBOOK_LINK_KEY
// and expiring with the request. The links are written to the log (level
// WARN, message "approval requested", with approval_id, subject, rule,
// approver and url); a host delivers them by e-mail or chat instead by
// changing linkDelivery, or through --approval-webhook. Anyone who holds a link
// can answer as its approver until it is used or expires, so restrict who
// reads the log. Opening the link shows the case; Approve or Deny records
// the verdict. --quorum approvers must approve; one denial denies. With
// --approval-remind, those who have not answered are reminded (a new
// link); with --escalate-to, the fallback approvers get links after
// --escalate-after, and one approval from them settles the request. A
// request unanswered by --approval-timeout expires and its run escalates
// to people.
//
// Serve the pages behind your HTTPS front end and give its address as
// --approval-base-url: links point there, and a verdict is accepted only
// from that origin. Links keep working across restarts as long as the key
// and the base URL stay the same. Used links are remembered in the store's
// file (Store.UsedTokens of package store/sqlite), so a link used before a
// restart is refused as already used after it; the runner also refuses a
// second vote from the same approver.
//
// Without --approvers the safe default applies: a request is announced in
// the log with the command that answers it, and waits for an operator to
// post a verdict with the operator tool, which works on the same file
// whether the responder is running or not (a verdict given while it is
// stopped counts on the next start):
//
//	iamplaybook --db iamplaybook.db approvals list
//	iamplaybook --db iamplaybook.db approve RUN_OR_APPROVAL_ID --by alice@example.com --reason "..."
//	iamplaybook --db iamplaybook.db deny RUN_OR_APPROVAL_ID --by alice@example.com --reason "..."
//
// Unanswered, it expires after --approval-timeout and its run escalates to
// people. The operator tool also works with --approvers, for an approver
// the rule makes eligible.
//
// With --approval-webhook, every request and notice (reminder,
// escalation, settled) is also POSTed as JSON to an on-call or chat system,
// signed with HMAC-SHA256 under IAMPLAYBOOK_WEBHOOK_SECRET (see
// approve.Webhook and approve.VerifyWebhook); with --approvers, each
// payload names whom to ask, and every personal link is POSTed as well,
// one "invitation" payload per approver (link included), for that system
// to deliver. The links are also still written to the log.
//
// # Configuration
//
// From the environment:
//
//	OKTA_ORG_URL               https://example.okta.com (required)
//	OKTA_API_TOKEN             an API token, or:
//	OKTA_CLIENT_ID             an OAuth 2.0 service app's client id, with
//	OKTA_PRIVATE_KEY_FILE      its PEM private key (private_key_jwt), and
//	OKTA_KEY_ID                the key's kid (optional)
//	OKTA_EVENT_HOOK_SECRET     the Event Hook's shared secret (required with --listen)
//	IAMPLAYBOOK_DB             the store's file when --db is not given
//	IAMPLAYBOOK_LINK_KEY       the approval links' signing key, at least 32
//	                           random bytes as hex, or as base64 after the
//	                           prefix "base64:" (required with --approvers;
//	                           e.g. `openssl rand -hex 32`)
//	IAMPLAYBOOK_WEBHOOK_SECRET the webhook's shared secret, at least 32
//	                           bytes, used as is (required with --approval-webhook)
//
// Secrets are read from the environment only and never logged, audited or
// quoted in errors.
//
// From flags:
//
//	--enforce                    contain for real (default: shadow mode)
//	--db FILE                    the SQLite store (default $IAMPLAYBOOK_DB, else iamplaybook.db)
//	--audit FILE                 the JSON Lines audit trail (default okta-audit.jsonl)
//	--listen ADDR                serve the Event Hook receiver at ADDR (empty: no receiver)
//	--hook-path PATH             the receiver's path (default /okta/event-hook)
//	--poll-interval DURATION     the System Log poll interval (default 15s)
//	--since DURATION             on first start, read the System Log from this long ago (default 0: from now)
//	--privileged-groups LIST     comma-separated group ids or names whose members are privileged
//	--approvers LIST             comma-separated approver identities (e-mail or login); enables the approval pages
//	--quorum N                   distinct approvals needed (default 1)
//	--approval-timeout DURATION  how long a request waits before it expires (default 4h)
//	--approval-remind DURATION   remind unanswered approvers at this interval (default 0: never; at least 1m)
//	--escalate-to LIST           fallback approvers, told after --escalate-after; one of them settles the request
//	--escalate-after DURATION    when the fallback is told (default: half of --approval-timeout)
//	--approval-listen ADDR       serve the approval pages at ADDR (default 127.0.0.1:8085)
//	--approval-base-url URL      the pages' public URL (default http://ADDR/approve)
//	--approval-webhook URL       also POST requests and notices, signed, to URL
//
// A typical production start:
//
//	export OKTA_ORG_URL=https://example.okta.com OKTA_API_TOKEN=... OKTA_EVENT_HOOK_SECRET=...
//	export IAMPLAYBOOK_LINK_KEY=$(cat /run/secrets/iamplaybook-link-key)
//	okta --enforce --db /var/lib/iamplaybook/okta.db --audit /var/log/iamplaybook/okta.jsonl \
//	    --listen 127.0.0.1:8081 \
//	    --approvers secops-lead@example.com,secops-oncall@example.com --quorum 1 \
//	    --escalate-to ciso@example.com --approval-base-url https://iam.example.com/approve
package main
