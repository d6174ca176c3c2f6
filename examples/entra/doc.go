// Command entra is an identity-risk responder for one Microsoft Entra ID
// tenant, a template for hosts built on iamplaybook.
//
// It polls Identity Protection (risk detections, risky users) and the
// directory audit log (privileged role grants, privileged group additions,
// directory configuration changes) through Microsoft Graph, enriches each
// case (profile, roles and privilege level, groups, recent sign-ins,
// current risk), decides with the risk × privilege matrix, and contains
// through Graph: disable the account and revoke its sessions, or remove the
// granted role or group membership. Privileged targets wait for approval;
// configured break-glass accounts are never touched automatically; a
// budget turns a flood of containments into approval requests. Every stage
// goes to a hash-chained JSON Lines audit file.
//
// It runs in shadow mode (dry-run: everything is read, decided and
// audited, nothing is written to the tenant) unless --enforce is given.
//
// Credentials come from the environment:
//
//	ENTRA_TENANT_ID      tenant id or domain
//	ENTRA_CLIENT_ID      application (client) id
//	ENTRA_CLIENT_SECRET  client secret, or instead:
//	ENTRA_CERT_FILE      PEM certificate registered on the app, and
//	ENTRA_KEY_FILE       its PEM private key (RSA, PKCS#8 or PKCS#1)
//
// The app needs the application permissions IdentityRiskEvent.Read.All,
// IdentityRiskyUser.ReadWrite.All, AuditLog.Read.All, Directory.Read.All,
// User.ReadWrite.All, RoleManagement.ReadWrite.Directory and
// GroupMember.ReadWrite.All, and an Entra ID P2 licence for Identity
// Protection.
//
// Usage:
//
//	entra [--enforce] [--db FILE] [--audit FILE] [--poll-interval 1m]
//	      [--break-glass UPN,...] [--privileged-roles TEMPLATE_ID,...]
//	      [--privileged-groups GROUP_ID,...] [--graph-url URL] [--token-url URL]
//	      [--approval-timeout 4h] [--approvers EMAIL,... [--quorum N]
//	      [--approval-remind 1h] [--escalate-to EMAIL,... [--escalate-after D]]
//	      [--approval-listen 127.0.0.1:8085] [--approval-base-url URL]
//	      [--approval-webhook URL]]
//
// # Durable state
//
// Runs, their step journal, the approvals they wait for and the pollers'
// cursors live in the SQLite file --db (default iamplaybook.db in the working directory, or the
// file named by IAMPLAYBOOK_DB), created when missing. After a restart,
// a deploy or a crash the responder resumes its unfinished runs and keeps
// waiting for the approvals pending in the file, with their deadlines. One
// responder uses a file at a time: it takes the file's lock
// (FILE.lock) before anything else, and a second one started on the same
// file stops at once with an error naming the holder. Keep the file, like
// the audit trail, on persistent storage: a restarted responder also
// resumes polling Graph where the last one stopped, without reading a
// record twice or skipping one.
//
// # Approvals
//
// Privileged targets, and containments beyond the budget, wait for an
// approval; a request that nobody settles within --approval-timeout is
// denied and its run escalated to people. Every request is announced in
// the log ("approval required", with its approval id, subject, risk,
// steps and deadline).
//
// Without --approvers, that is all: an operator answers with the operator
// CLI on the same file, while the responder runs or not (a verdict given
// before the deadline counts when it starts again):
//
//	iamplaybook --db FILE approvals list
//	iamplaybook --db FILE approve ID --by NAME [--reason R]
//	iamplaybook --db FILE deny ID --by NAME --reason R
//
// With --approvers, the web approval channel is served too. Each approver
// gets a personal, signed, single-use link that expires with the request;
// the link opens a page showing the case, whose Approve and Deny buttons
// record the verdict (opening the link alone records nothing). --quorum
// of the approvers must approve, and one denial denies. Those who have not
// voted get a new link every --approval-remind (0 disables reminders);
// with --escalate-to, those fallback approvers get links after
// --escalate-after (default half the timeout), and one of them can settle
// the request alone. The links are written to the log ("approval link",
// with the approver and the url): a host delivers them by e-mail or chat
// instead, and until then anyone who reads the log can use them, so
// restrict it. With --approval-webhook, requests and their reminders,
// escalations and outcomes are also POSTed as JSON, with their recipients,
// to that URL (an on-call or chat system), and so is every personal link,
// one "invitation" payload per approver, for that system to deliver;
// every POST is signed with HMAC-SHA256 under
// IAMPLAYBOOK_WEBHOOK_SECRET (see approve.VerifyWebhook). The pages listen
// on --approval-listen; put them behind your HTTPS front end and set
// --approval-base-url to the address approvers reach them at (default
// http://LISTEN-ADDRESS/approve). The CLI still works, but counts only
// verdicts from eligible approvers.
//
// Approval settings from the environment, never logged:
//
//	IAMPLAYBOOK_LINK_KEY        key signing the approval links and forms, at
//	                            least 32 bytes (required with --approvers;
//	                            changing it invalidates the links issued)
//	IAMPLAYBOOK_WEBHOOK_SECRET  shared secret of --approval-webhook, at
//	                            least 32 bytes
//	IAMPLAYBOOK_DB              default of --db
//
// Used links are remembered in the same file as the runs (package
// store/sqlite, Store.UsedTokens): a link used before a restart is still
// refused as used after it, and the runner never counts a second verdict
// from the same approver either way.
package main
