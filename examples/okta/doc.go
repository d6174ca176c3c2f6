// Command okta is an identity-risk responder for one Okta org, a template
// for hosts: it polls the System Log and serves an Event Hook endpoint,
// turns Identity Threat Protection and privilege signals into playbook
// runs, enriches them from the Management API, decides with the risk ×
// privilege matrix, asks for approval before containing a privileged
// account, and suspends and clears the sessions of a standard account at
// high risk. Every step goes to a hash-chained JSON Lines audit file.
//
// It runs in shadow mode (dry-run: everything but Okta's write calls)
// unless --enforce is given.
//
// Configuration comes from the environment:
//
//	OKTA_ORG_URL             https://example.okta.com (required)
//	OKTA_API_TOKEN           an API token, or:
//	OKTA_CLIENT_ID           an OAuth 2.0 service app's client id, with
//	OKTA_PRIVATE_KEY_FILE    its PEM private key (private_key_jwt), and
//	OKTA_KEY_ID              the key's kid (optional)
//	OKTA_EVENT_HOOK_SECRET   the Event Hook's shared secret (required with --listen)
//
// and from flags:
//
//	--enforce                contain for real (default: shadow mode)
//	--audit FILE             the JSON Lines audit trail (default okta-audit.jsonl)
//	--state FILE             the System Log cursor and idempotency records (default okta-state.json)
//	--listen ADDR            serve the Event Hook receiver at ADDR (empty: no receiver)
//	--hook-path PATH         the receiver's path (default /okta/event-hook)
//	--poll-interval DURATION the System Log poll interval (default 15s)
//	--since DURATION         on first start, read the System Log from this long ago (default 0: from now)
//	--privileged-groups LIST comma-separated group ids or names whose members are privileged
//
// Approval requests are announced in the log; verdicts are given through
// an approve.Queue (see newApprover).
package main
