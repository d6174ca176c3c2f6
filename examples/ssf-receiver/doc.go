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
// demonstration directory. Replace it with a real provider to use the
// program as more than a template.
//
// It discovers the transmitter from its configuration metadata
// (--transmitter, the issuer URL), verifies every SET against the
// transmitter's keys and --audience, writes the audit trail — refused
// SETs included — to a hash-chained JSON Lines file (--audit), and runs in
// shadow mode (dry run: decisions are made and recorded, the directory is
// not touched) unless --enforce is given.
//
//	ssf-receiver --transmitter https://idp.example --audience https://rp.example/ssf \
//	    --listen 127.0.0.1:8088 --audit ssf-audit.jsonl [--enforce] [--bearer TOKEN]
//
// SETs are accepted at http://LISTEN/ssf/events. --bearer (or the
// environment variable SSF_RECEIVER_BEARER, which keeps the secret out of
// the process list) requires "Authorization: Bearer TOKEN" on every push.
// On SIGINT or SIGTERM the program stops accepting SETs, lets accepted
// runs finish, prints what became of each run and exits.
//
// Runs are kept in memory: a restart forgets which SET ids were seen, so
// a replay across restarts is caught only by a durable store (swap
// store.NewMemory for one in a real deployment).
package main
