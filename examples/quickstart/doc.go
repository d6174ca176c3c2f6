// Command quickstart runs iamplaybook's seed scenarios against the in-memory
// identity provider, offline: risky sign-ins of a standard user and of a
// Global Administrator, medium and low risk, a privileged role assignment,
// a throttled provider, a break-glass account, a hygiene sweep that finds a
// disabled account still holding a session, and a flood that trips the
// containment budget. It prints what happened to each run, verifies the
// hash-chained audit trail, and exits non-zero if any run ended otherwise
// than expected.
//
// It is also a template: copy it, replace the fake provider with a real one,
// and keep the rest.
package main
