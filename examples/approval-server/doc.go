// Command approval-server runs the quickstart's privileged case — a Global
// Administrator's impossible-travel sign-in, which the risk × privilege
// matrix sends for approval — with its approval going through the web
// channel (package approve/web).
//
// It serves the approval pages on -addr, prints one signed link per
// eligible approver, and waits. Open the security lead's link in a browser:
// the page shows the case, and Approve or Deny records the verdict. Approved,
// the account is disabled; denied, or unanswered after -wait, the run is
// escalated to people. A reminder is printed at a third of the wait, and at
// half of it the request escalates to the CISO, whose link can settle it
// alone.
//
//	go run ./examples/approval-server -addr 127.0.0.1:8085 -wait 30m
//
// It is also a template: put the handler behind your HTTPS front end, keep
// the signing key in a secret store, deliver the links by e-mail or chat,
// and use a durable store so that waiting requests survive restarts.
package main
