// Package sqlite is a durable playbook.Store in one SQLite file, built on
// modernc.org/sqlite (pure Go, no cgo). A runner that uses it resumes its
// unfinished runs after a restart or a crash: runs, their step journal,
// approvals waiting with their deadlines, ticket references and the event
// de-duplication claims all live in the file.
//
//	s, err := sqlite.Open(ctx, "/var/lib/iamplaybook/runs.db", sqlite.Options{})
//	if err != nil {
//		return err
//	}
//	defer s.Close()
//	r, err := playbook.NewRunner(pb, playbook.Options{Store: s})
//
// The file path is the only required setting. The database runs in WAL
// mode with foreign keys enforced; its schema is versioned in code (PRAGMA
// user_version, migrations applied by Open in one transaction) and marked
// as this store's (PRAGMA application_id), so that Open refuses a foreign
// file (ErrNotDatabase), a damaged or truncated one (ErrCorrupt) and one
// written by a newer version (ErrSchemaTooNew), always naming the path and
// leaving the file untouched.
//
// Store is also a cursor.Store (package providers/cursor): a host keeps
// its triggers' cursors and its providers' idempotency records in the
// same file as its runs (table cursors, schema version 2), written through
// the same single writer and readable while a runner holds the lock.
//
// Store.UsedTokens is the durable set of used approval links for package
// approve/web (web.Config.Used; table used_tokens, schema version 3): a
// link used once stays refused as used across restarts and across every
// process that opens the file, until it expires.
//
// # Processes
//
// One runner uses a file at a time: Store implements playbook.Locker with
// an operating-system lock (flock) on a sidecar file, LockPath(path), so a
// second runner fails fast with playbook.ErrStoreLocked naming the holder,
// and a runner killed with SIGKILL never blocks its successor. The sidecar
// file stays on disk between runners; only the lock on it matters. On
// systems without flock (Windows) Lock fails rather than run unguarded. Other processes,
// such as the operator CLI, open the same file without the lock to read
// runs and pending approvals (playbook.ApprovalLister) and to post
// verdicts (playbook.VerdictInbox), which the runner picks up.
//
// # Durability and speed
//
// Every write is one SQLite transaction, or part of one: a single writer
// goroutine commits the writes that arrive together in one transaction
// (group commit), and each method returns only once its own write is
// committed. By default (DurabilityFull, PRAGMA synchronous=FULL) a
// returned write survives a power loss; DurabilityNormal (synchronous=NORMAL)
// survives a crash of the process but may lose the last commits on a
// power loss. In both, a process killed at any moment leaves a file that
// opens again with every transaction either applied or not, and every
// write whose method returned applied.
//
// The writer also keeps the write-ahead log short: once it passes a few
// megabytes, the writer copies it into the file and rewinds it between two
// transactions.
package sqlite
