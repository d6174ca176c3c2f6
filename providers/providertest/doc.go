// Package providertest is the conformance suite every identity provider of
// iamplaybook must pass: the in-memory fake, and the real providers against
// emulators of their vendors' APIs.
//
// A provider's test describes itself with a Harness, whose New returns a
// fresh Env per case: the provider's actions and enrichers, plus hooks that
// seed and inspect state through the provider's own emulator (create a
// user, ask whether it is enabled, inject a throttling response). Run then
// checks the rules every provider must keep: idempotency (per state and per
// idempotency key, also under concurrency), canonical errors and their
// classification, reversible actions, dry-run planning without writes, and
// enrichment of profile, roles and privilege.
//
// Every case logs the rule it checks. A case whose hook or action the
// provider lacks is skipped with a message naming what is missing; a
// provider can also skip a case explicitly, with a reason, in Harness.Skip.
// Cases lists the cases and their rules.
package providertest
