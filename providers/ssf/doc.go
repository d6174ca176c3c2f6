// Package ssf receives OpenID Shared Signals: Security Event Tokens (SETs,
// RFC 8417) carrying CAEP and RISC events, delivered by push (RFC 8935) or
// poll (RFC 8936), verified against the transmitter's published keys, and
// turned into playbook events.
//
// # Pieces
//
//   - Discover reads a transmitter's /.well-known/ssf-configuration; a
//     KeySet fetches its jwks_uri, caches the keys, and refetches when a SET
//     names an unknown kid, at most once per MinRefreshInterval.
//   - A Verifier checks a compact SET: an allow-listed algorithm
//     (DefaultAlgorithms: RS, PS and ES with SHA-2; never "none", never
//     HMAC), typ "secevent+jwt" when present, the signature, iss, aud (a
//     string or an array) and the iat window.
//   - A Receiver verifies, refuses replays (a bounded jti cache in front of
//     the runner's durable de-duplication: the event id is a digest of the
//     SET's iss and jti, see EventID), maps events, resolves subjects and
//     hands the events to (*playbook.Runner).Handle, auditing every refusal
//     through an audit.Sink. It is the RFC 8935 push endpoint
//     (http.Handler).
//   - A Poller polls an RFC 8936 endpoint, acknowledges a SET only once the
//     runner has durably accepted its events, reports refused SETs in
//     setErrs, and backs off exponentially while the stream is empty.
//   - A StreamClient creates and reads the receiver's stream, requests a
//     verification event and reads the stream status.
//
// Package ssftest is a transmitter to test all of this against.
//
// # Answers
//
// A refused SET is audited (audit.TypeEventRejected, Outcome the code),
// starts no run, is answered on push with the status and RFC 8935 body
// below, and is reported in setErrs on poll:
//
//	| problem                                   | push status | err                   |
//	|-------------------------------------------|-------------|-----------------------|
//	| body over Config.MaxBodyBytes             | 413         | invalid_request       |
//	| missing or wrong bearer token             | 401         | authentication_failed |
//	| Content-Type not application/secevent+jwt | 400         | invalid_request       |
//	| not a compact JWS, bad claims, wrong typ  | 400         | invalid_request       |
//	| alg none, HS*, or not allow-listed        | 400         | invalid_request       |
//	| kid unknown after the JWKS refresh        | 400         | invalid_key           |
//	| signature does not verify (forged)        | 400         | authentication_failed |
//	| iss is not the transmitter                | 400         | invalid_issuer        |
//	| aud does not name the receiver            | 400         | invalid_audience      |
//	| iat older than MaxAge or in the future    | 400         | invalid_request       |
//	| jti already received (replay)             | 400         | invalid_request       |
//
// A replay is audited as audit.TypeEventDuplicate; on poll it is
// acknowledged (the transmitter offers un-acknowledged SETs again, so a
// replay there is expected). A transient failure (JWKS unreachable, runner
// or audit sink failing) is answered 503 with Retry-After on push and is
// neither acknowledged nor reported on poll, so the SET comes again.
// Accepted, ignored and verification SETs are answered 202.
//
// # Events
//
// Each supported event becomes one playbook.Event with Source "ssf", the
// SET's claims as Raw, attributes named Attr*, and OccurredAt from
// event_timestamp (seconds, or milliseconds as Okta sends them), else toe,
// else iat:
//
//	| event type                     | playbook type              | risk                              |
//	|--------------------------------|----------------------------|-----------------------------------|
//	| CAEP session-revoked           | risk.session               | low                               |
//	| CAEP token-claims-change       | risk.session               | low                               |
//	| CAEP credential-change         | risk.account               | low                               |
//	| CAEP assurance-level-change    | risk.session               | medium on decrease, else low      |
//	| CAEP device-compliance-change  | risk.session               | medium to not-compliant, else low |
//	| CAEP risk-level-change         | risk.user                  | current_level (LOW, MEDIUM, HIGH) |
//	| RISC account-disabled          | risk.account               | high for hijacking, else medium   |
//	| RISC account-enabled           | risk.account               | low                               |
//	| RISC account-purged            | risk.account               | medium                            |
//	| RISC credential-compromise     | risk.credential_compromise | high                              |
//	| RISC identifier-changed        | risk.account               | low                               |
//	| RISC identifier-recycled       | risk.account               | medium                            |
//	| RISC sessions-revoked          | risk.session               | low                               |
//
// The SSF verification event is answered (audited as TypeVerification,
// passed to Config.OnVerification) and never starts a run; stream-updated
// and unknown event types are accepted and audited as TypeSETIgnored.
//
// An event whose complex subject holds a member listed in
// Config.CriticalSubjectMembers (the transmitter's
// critical_subject_members) that this package does not understand is
// discarded and audited as TypeSETIgnored.
//
// The subject is the event's own "subject" when present (legacy and Okta),
// else the top-level sub_id. Formats email, iss_sub, opaque, phone_number
// (or "phone"), account, uri, did, aliases and complex are understood;
// the account is the principal (the user member of a complex subject). By
// default Subject.Provider is Config.Provider and Subject.ID the
// principal's value; Config.Resolve maps it to an account of the
// directory the playbook contains instead.
//
// # Secrets
//
// Bearer tokens are compared in constant time and never logged or
// audited; refused tokens are not recorded, only their alg and kid and
// the iss and jti they claim.
package ssf
