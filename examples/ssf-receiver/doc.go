// Command ssf-receiver receives OpenID Shared Signals pushed by a
// transmitter (RFC 8935) and answers them with a playbook:
//
//   - RISC credential-compromise: contain at once (disable the account and
//     revoke its sessions);
//   - CAEP risk-level-change: decided by privilege with the risk ×
//     privilege matrix (HIGH and privileged → approval, HIGH and standard
//     → contain, MEDIUM → monitor, LOW → log);
//   - everything else: logged.
//
// Break-glass accounts are never contained automatically. Shared Signals
// are receive-only, so the containment acts on a directory the program
// holds: the in-memory provider of package providers/fake, seeded with a
// demonstration directory at every start. Replace it with a real provider
// to use the program as more than a template.
//
// It discovers the transmitter from its configuration metadata
// (--transmitter, the issuer URL), verifies every SET against the
// transmitter's keys and --audience, writes the audit trail — refused
// SETs included — to a hash-chained JSON Lines file (--audit), keeps its
// runs in a SQLite file (--db), and runs in shadow mode (dry run:
// decisions are made and recorded, the directory is not touched, nobody is
// asked to approve) unless --enforce is given.
//
//	ssf-receiver --transmitter https://idp.example --audience https://rp.example/ssf \
//	    --listen 127.0.0.1:8088 --audit ssf-audit.jsonl --db /var/lib/ssf/iamplaybook.db \
//	    [--enforce] [--bearer TOKEN] \
//	    [--approvers lead@example.com,oncall@example.com --quorum 1 \
//	     --approval-timeout 4h --remind-every 30m \
//	     --escalate-to ciso@example.com --escalate-after 2h \
//	     --approval-listen 127.0.0.1:8089 --approval-base-url https://iam.example.com/approve \
//	     --approval-webhook https://oncall.example.com/hooks/iamplaybook]
//
// SETs are accepted at http://LISTEN/ssf/events. --bearer (or the
// environment variable SSF_RECEIVER_BEARER, which keeps the secret out of
// the process list) requires "Authorization: Bearer TOKEN" on every push.
// On SIGINT or SIGTERM the program stops accepting SETs, lets accepted
// runs finish or reach their wait for approval, prints what became of the
// runs it touched and how many approvals wait, and exits.
//
// # Durable state
//
// --db FILE (default $IAMPLAYBOOK_DB, else iamplaybook.db in the working
// directory) is the SQLite store (package store/sqlite): runs, their step
// journal, approvals waiting with their deadlines and the ids of the
// events already handled survive a restart or a crash, and the next start
// resumes them. The store's de-duplication is also the receiver's replay
// protection across restarts: the receiver's own memory of SET ids starts
// empty at each start, but a SET delivered again after a restart is
// refused (400 invalid_request, audited as a duplicate) and starts no
// second run. One instance uses a file at a time: a second one on the same
// file stops at once with an error saying the database is in use.
//
// # Approvals
//
// With --approvers (or $IAMPLAYBOOK_APPROVERS), a privileged containment
// waits until --quorum of them approve through the web approval pages
// (package approve/web), served on --approval-listen at
// --approval-base-url (default http://APPROVAL-LISTEN/approve; set it to
// the address your HTTPS front end exposes). Each approver gets a personal
// signed link, printed on standard output here (a host would e-mail or
// chat it): opening it shows the case, and the Approve or Deny button
// records the verdict. One denial denies. Unanswered within
// --approval-timeout (default 4h), the request is denied and the run
// escalated to people. --remind-every re-sends the links to those who
// have not answered; --escalate-to names people told after
// --escalate-after (default half the timeout), any one of whom may then
// settle the request alone. The links are signed with the key in
// $IAMPLAYBOOK_LINK_KEY (required with --approvers, at least 32 bytes, for
// example the output of "openssl rand -hex 32"; keep it in a secret store:
// changing it invalidates the links issued). With --approval-webhook URL
// and the shared secret in $IAMPLAYBOOK_WEBHOOK_SECRET (at least 32
// bytes), every request, reminder, escalation and settlement is also
// POSTed as signed JSON (package approve, Webhook) to an on-call or chat
// system. A used link is refused as used, also after a restart: the used
// links are kept in the --db file with the runs (Store.UsedTokens of
// package store/sqlite), and the runner never counts a second vote from
// the same approver either.
//
// Without approvers the default is safe: a privileged containment is not
// run but printed as a request with the commands that answer it, and
// waits in the store until an operator gives a verdict with the operator
// tool (cmd/iamplaybook) or the deadline passes, when the run escalates.
//
// Either way, an operator can answer with the operator tool on the same
// file, while the program runs (the verdict goes to the store's inbox and
// is applied within a second) or while it is stopped (the verdict counts
// at the next start if it was given before the deadline):
//
//	iamplaybook --db FILE approvals list
//	iamplaybook --db FILE approve ID --by NAME --reason "confirmed with the user"
//	iamplaybook --db FILE deny ID --by NAME --reason "expected travel"
//
// With --approvers, NAME must be one of them. Nobody may approve a case
// about their own account.
package main
