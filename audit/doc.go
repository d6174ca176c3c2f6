// Package audit holds the audit trail of iamplaybook: the Record type that
// every stage of a run writes, the Sink interface that stores records, the
// sinks themselves, the verifier of the hash-chained log, and ticketing.
//
// The package is a leaf: it imports nothing else from this module, so the
// playbook package can speak of audit.Record.
//
// # Sinks
//
//   - JSONL, the default trail: an append-only JSON Lines file in which each
//     record carries its seq, the previous record's hash and its own hash
//     (SHA-256, or HMAC-SHA256 with a key), so that editing, removing or
//     reordering records is detected by Verify. Its zero options give
//     durable group commit: Record returns only after an fsync covers the
//     record.
//   - Memory, a concurrency-safe in-memory sink for tests and forwarding.
//   - Multi, fan-out to several sinks, joining their errors.
//   - Discard, the null sink; Failing, a sink that always fails, for tests
//     of fail-closed behaviour.
//
// Every sink here stores Redact(r), never r: values of secret-looking keys
// (password, client_secret, access_token, authorization, cookie, ...) and
// bearer tokens or JWTs inside strings never reach storage. A Sink written
// elsewhere should do the same; the audittest package checks it.
//
// # Verifying a log
//
// Verify reads a log and reports the first broken record as a
// *VerifyError, whose Reason tells tampered content (ErrHashMismatch),
// removed or reordered records (ErrSeqMismatch, ErrPrevMismatch), garbage
// (ErrMalformedLine) and a torn final write (ErrTruncated) apart. Removing
// records from the end of a log leaves a valid, shorter chain: anchor the
// head hash (VerifyReport.LastHash, JSONL.Head) outside the log to detect
// that too.
//
// # Tickets
//
// Ticketer opens and updates tickets in a case-management system;
// MemoryTicketer is a working in-memory implementation.
package audit
