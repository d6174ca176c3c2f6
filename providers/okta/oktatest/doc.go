// Package oktatest is an Okta org emulator for tests: an httptest server
// (or an in-process handler, for testing/synctest) that reproduces the
// parts of the Okta Management API the okta provider uses, with Okta's
// wire format, status codes, error bodies, paging and rate limiting.
//
// It emulates users and their status machine (suspend only from ACTIVE,
// unsuspend only from SUSPENDED, 400 E0000001 otherwise), sessions and
// their clearing, admin role assignments, groups and memberships, ITP
// user risk, the System Log (polling mode with an always-present next
// link, bounded mode, a subset of the filter language) with an event for
// every change, API tokens (SSWS) and OAuth 2.0 service apps
// authenticating with private_key_jwt (signature checked against the
// registered public key, aud, exp, jti replay, scopes per endpoint, 403
// E0000006 with insufficient_scope), per-endpoint rate-limit buckets with
// X-Rate-Limit-Limit/Remaining/Reset and 429 E0000047, injected faults,
// and Event Hook verification and delivery to a receiver.
//
// Its clock is time.Now, so an in-process emulator (NewInProcess) inside
// a testing/synctest bubble runs on the bubble's fake time.
package oktatest
