// Package okta is the Okta identity provider for playbooks: it turns Okta
// System Log and Event Hook signals (Identity Threat Protection risk,
// ThreatInsight, session context changes, admin privilege grants,
// privileged group memberships, policy and app changes) into playbook
// events, enriches cases from the Management API, and contains accounts
// through it.
//
// # Client
//
// A [Client] talks to one org with an API token ("SSWS") or as an OAuth 2.0
// service app authenticating with private_key_jwt: a client assertion
// signed with the app's key (aud = the token endpoint, a unique jti, a
// five-minute exp), exchanged for an access token per operation's scope
// (okta.users.manage, okta.roles.read, okta.logs.read, ...) and cached
// until shortly before it expires. Okta's error body (errorCode,
// errorSummary, errorId, errorCauses) becomes a *playbook.ProviderError
// wrapping the canonical error for its status and code. Rate limits are
// kept per endpoint bucket from X-Rate-Limit-Limit/Remaining/Reset: the
// client paces requests once Remaining falls under a fraction of the
// limit, and after a 429 (E0000047) sends nothing to the bucket before
// X-Rate-Limit-Reset; the throttled error carries that delay as
// RetryAfter, which contain.Retry honours. Lists follow Link rel="next",
// never to another origin.
//
// # Triggers
//
// [Poller] reads the System Log in polling mode (since once, then the next
// link forever), persists its cursor in a cursor.Store (in memory by
// default; a host passes its SQLite run store, a cursor.File, or any
// durable implementation; ProviderConfig.Store keeps the actions'
// idempotency records the same way) and de-duplicates by event
// uuid. [HookReceiver] is an Event Hook endpoint: it answers the
// verification challenge, authenticates deliveries with a shared secret
// compared in constant time, bounds bodies, and hands the mapped events
// to the runner before it answers: 200 once the runner has accepted
// (journaled) every one, 503 when it could not within
// HookConfig.HandoffTimeout (under Okta's 3-second wait), so that Okta
// retries the delivery rather than lose it. Both map events with a
// [Mapper] and use the event uuid as the playbook event id, so a signal
// seen by both, or delivered twice, starts one run. [DecodeLogEvent] and [DecodeEventHook] are the exported
// decoders; [ParseDebugMap] and [ParseThreatDetections] read the encoded
// debugData values (risk is a {k=v, ...} string, threatDetections a JSON
// string).
//
// # Enrichers and actions
//
// [Provider.Enrichers] load the profile (status, manager), admin roles
// (SUPER_ADMIN and ProviderConfig.PrivilegedRoles make a user privileged),
// groups (ProviderConfig.PrivilegedGroups), recent authentications from the
// System Log and the ITP risk level. [Provider.Actions] suspend
// (disable-user), clear sessions (revoke-sessions), expire or reset the
// password (reset-credentials), unassign an admin role (remove-role),
// remove a group membership (remove-group-member) and, only when
// configured, deactivate. Each reads the account first and reports
// already-applied when there is nothing to do (Okta answers 400 E0000001
// to suspending a user who is not ACTIVE), remembers idempotency keys, and
// undoes where Okta allows it.
//
// Package oktatest is an emulator of the org for tests.
package okta
