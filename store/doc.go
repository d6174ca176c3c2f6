// Package store holds implementations of playbook.Store, the persistence the
// embedded runner uses for its runs, their step journal and the event
// de-duplication claims.
//
// Memory is a complete, concurrency-safe in-memory Store. It is meant for
// tests, examples and hosts that accept losing unfinished runs on restart:
// nothing survives the process. It deep-copies every value passed in or
// returned, so callers never share memory with it. It also implements the
// optional playbook.VerdictInbox (verdicts posted from elsewhere in the
// process) and playbook.ApprovalLister.
//
// The durable store, one SQLite file (pure Go, no cgo) that a runner
// resumes from after a restart, is in store/sqlite. Every Store, in memory
// or on disk, must pass the conformance suite in store/storetest:
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) playbook.Store { return mystore.New(...) })
//	}
package store
