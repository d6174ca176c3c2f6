// Package cursor is where pollers keep the small state that must outlive
// a process: the position a trigger has read up to, the records a
// provider has already acted on under an idempotency key.
//
// A [Store] is two methods over string keys and string values. The
// package ships two implementations: [Memory], for tests and hosts that
// accept starting over after a restart, and [File], one JSON file
// rewritten atomically on every Put, for a host without a database. The
// SQLite run store (package store/sqlite) is a Store too, so a host that
// keeps its runs there keeps its pollers' state in the same file.
//
// Providers take a Store; they never open one. Keys are chosen by the
// provider and name the tenant or org they belong to (Entra's pollers the
// tenant, Okta's poller the org's host), so one Store serves several
// tenants; action idempotency records are keyed by the run's unique
// idempotency key.
//
// Package cursortest holds the conformance suite every implementation
// passes.
package cursor
