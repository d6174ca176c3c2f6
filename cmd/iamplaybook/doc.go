// Command iamplaybook is the operator tool for the embedded engine's SQLite
// store. It reads runs, their step journal and waiting approvals, and posts
// approval verdicts, while a runner is running on the same file (the
// verdicts go to the store's inbox and the runner picks them up within
// Options.InboxPoll) or while none runs (a verdict given before the
// deadline counts when the next runner starts). It also verifies a
// hash-chained audit trail.
//
// Usage:
//
//	iamplaybook [--db FILE] [--json] COMMAND [ARGS]
//
//	runs list [--state S] [--subject U] [--limit N]
//	    Runs, oldest first; S is pending, running, waiting or done; U is a
//	    subject key (provider:id).
//	runs show [--audit FILE] RUN_ID
//	    One run: its event, decision and approval, and the timeline of its
//	    journaled steps (status, attempt, start and end). With --audit, the
//	    run's records from that audit trail too, after verifying its chain.
//	approvals list
//	    Approvals waiting for a verdict, earliest deadline first.
//	approve ID --by NAME [--reason R] [--wait] [--timeout D]
//	deny ID --by NAME --reason R [--wait] [--timeout D]
//	    Post a verdict on approval ID (an approval id, or the id of its
//	    run). The tool first checks what it can: the approval exists, is
//	    still pending, its deadline has not passed, NAME is neither the
//	    case's subject nor the event's actor, and NAME has not voted yet.
//	    With --wait it then waits (up to --timeout, 30s by default) until a
//	    runner has applied the verdict, and prints the outcome.
//	audit verify [--head HASH] FILE
//	    Verify the hash chain of a JSON Lines audit trail. A keyed trail
//	    needs its HMAC key in the environment variable
//	    IAMPLAYBOOK_AUDIT_KEY, as hex (or base64 with the prefix
//	    "base64:"). --head names a hash anchored elsewhere that the chain
//	    must still contain.
//
// The database is --db FILE or, when the flag is absent, the file named by
// the environment variable IAMPLAYBOOK_DB. A missing file, a file that is
// not an iamplaybook database and a database written by a newer version
// are refused with an error that says so; the tool never creates a
// database. --json prints machine-readable output (one JSON document per
// command) for scripts. Flags may come before or after the positional
// arguments.
//
// Exit status: 0 on success, 1 when the command failed (including a refused
// verdict, a chain that does not verify, or --wait timing out), 2 for a
// usage error.
//
// The tool authenticates nobody: --by is who the operator says they are,
// recorded as such (channel "cli") in the store and the audit trail.
// Restrict who may run it, and who may write the database file, as you
// would restrict the runner's host.
package main
