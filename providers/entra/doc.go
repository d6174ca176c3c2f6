// Package entra is the Microsoft Entra ID provider: it answers identity
// risk through Microsoft Graph v1.0 with app-only credentials.
//
// A Client is built from a Config (tenant, app, and a client secret or a
// certificate) and provides the three parts a playbook needs:
//
//   - Actions (Client.Actions), under the well-known names of package
//     playbook so that policies work with any provider: disable-user,
//     revoke-sessions, remove-role, remove-group-member,
//     confirm-compromised, plus dismiss-risk and a reset-credentials that
//     honestly fails (Graph's password reset is delegated-only). Each is
//     idempotent per idempotency key and by reading state first ("already
//     disabled" is success, recorded as already-applied), plans without
//     writing, and, where Graph allows, undoes from the recorded prior
//     state.
//   - Enrichers (Client.Enrichers): profile, role assignments and the
//     privilege level they give (Global Administrator and a configurable
//     list of privileged role templates and groups), transitive groups,
//     recent sign-ins and Identity Protection risk.
//   - Triggers (Poller): risk detections, risky users and directory-audit
//     privilege changes, polled with a cursor kept in a cursor.Store
//     (in memory by default; a host that must resume after a restart
//     passes its SQLite run store or a cursor.File) and de-duplicated by
//     record id;
//     a record that does not decode is reported and skipped.
//
// The decoders (DecodeRiskDetection, DecodeRiskyUser, DecodeSignIn,
// DecodeDirectoryAudit) are exported so that hosts receiving Graph records
// another way (Event Hubs, a SIEM export) map them the same way. They
// accept the live wire format as well as the documentation's examples.
//
// # Errors, throttling and tokens
//
// Graph's errors ({"error":{"code","message","innerError"}}) and the token
// endpoint's OAuth errors (error, error_description, error_codes) are
// translated once, into *playbook.ProviderError wrapping the canonical
// sentinels, with Graph's code (Authorization_RequestDenied,
// Request_ResourceNotFound, ...) in Code. A 429 or 503 carries Graph's
// Retry-After (fractional seconds) in RetryAfter, so that contain.Retry
// waits at least that long; the client itself does not retry, except that
// a 401 makes it fetch a new token and try once more. Identity Protection
// endpoints, limited by Graph to one request per second per tenant and
// throttled without Retry-After, are paced by a client-side Limiter.
// Collections are read page by page through @odata.nextLink.
//
// Secrets (client secret, private key, assertions, access tokens) are sent
// only where they belong and never appear in errors, logs or results.
//
// Package entratest holds a Graph emulator that hosts can use in their own
// tests; the client passes providers/providertest against it.
package entra
