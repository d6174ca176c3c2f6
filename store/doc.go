// Package store holds implementations of playbook.Store, the persistence the
// embedded runner uses for its runs, their step journal and the event
// de-duplication claims.
//
// Memory is a complete, concurrency-safe in-memory Store. It is meant for
// tests, examples and hosts that accept losing unfinished runs on restart:
// nothing survives the process. It deep-copies every value passed in or
// returned, so callers never share memory with it.
//
// A durable, single-file SQLite store (pure Go, no cgo) will live at
// store/sqlite. Every Store, in memory or on disk, must pass the conformance
// suite in store/storetest:
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) playbook.Store { return mystore.New(...) })
//	}
package store
