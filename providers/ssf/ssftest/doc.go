// Package ssftest is an OpenID Shared Signals transmitter for tests: an
// httptest server (or an in-process handler, for testing/synctest) that
// serves its configuration metadata and JWKS, signs Security Event Tokens
// with keys that can be rotated, published and retired, pushes SETs to a
// receiver as RFC 8935 describes, offers them on an RFC 8936 poll endpoint
// (recording acknowledgements and setErrs), and implements the stream
// management endpoints (create and read a stream, status, verification).
//
// It also builds the bad tokens a receiver must refuse: forged payloads
// (Forge), "alg": "none" (Unsigned), HMAC with a public value as the
// secret (HMAC), unpublished keys (NewKey without Publish), wrong kid or
// typ headers (SignOptions).
//
// It is a working implementation, safe for concurrent use, and imports no
// testing package.
package ssftest
