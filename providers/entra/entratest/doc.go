// Package entratest is an in-memory Microsoft Graph tenant, with its token
// endpoint, for testing code that talks to Microsoft Entra ID: the
// providers/entra client and hosts that build on it.
//
// An Emulator holds users, groups, directory roles and assignments,
// sign-ins, risk detections, risky users and directory audits, and serves
// them with Graph v1.0's wire format: the status codes, the error body
// {"error":{"code","message","innerError"}}, paging with @odata.nextLink
// and $skiptoken, the $top limit of risk detections (500, larger is 400),
// revokeSignInSessions answering 200 {"value":true}, group membership
// removal through /members/{id}/$ref (and, without /$ref, the deletion of
// the member object Graph's documentation warns about), and the live
// record shapes (no @odata.type on list items, additionalInfo as a
// JSON-encoded string, seven-digit fractional timestamps, role names as
// quoted strings inside modifiedProperties).
//
// Throttling comes in both of Graph's kinds: Identity Protection endpoints
// answer 429 without Retry-After to a tenant that sends more than one
// request per second, and FailNext injects any status, such as 429 with a
// fractional Retry-After ("2.128") or 403 Authorization_RequestDenied.
//
// The token endpoint implements the client credentials grant with a client
// secret (compared in constant time) or a certificate client assertion
// (signature checked against the registered certificate, x5t#S256 or x5t,
// audience, issuer, subject, lifetime and jti replay), issues tokens that
// expire, and answers errors in the identity platform's OAuth shape
// (error, error_description, error_codes). Graph refuses expired or
// revoked tokens with 401, WWW-Authenticate and InvalidAuthenticationToken.
//
// Start serves the emulator on a loopback httptest server; Client serves it
// in-process, for tests inside testing/synctest bubbles, whose fake clock
// Options.Now may then follow (the default, time.Now, does).
package entratest
