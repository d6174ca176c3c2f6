// Package enrich composes enrichers: it runs several playbook.Enricher
// values in parallel, each under its own timeout, marks each one required or
// optional, and lets them share lookups through a per-run cache.
//
// # Parallel fan-out
//
// Parallel builds a Group from Specs, made with Required or Optional:
//
//	g, err := enrich.Parallel(enrich.Options{MaxConcurrent: 4},
//		enrich.Required("profile", profileEnricher, 2*time.Second),
//		enrich.Optional("sign-ins", signInEnricher, 5*time.Second),
//	)
//
// Group.Enrich starts every enricher (at most MaxConcurrent at a time), each
// with a context that ends after its own timeout (DefaultTimeout when the
// Spec leaves it zero), and returns once every enricher has returned or hit
// its deadline. A failure of an optional enricher is recorded on the case
// (Case.RecordFailure with required=false) and the others carry on, so the
// policy sees which facts are missing. A failure of a required enricher is
// recorded with required=true and makes Enrich return an *Error naming it;
// the other enrichers are not cancelled, so that the audit trail shows every
// fact that could be gathered. A timeout is reported as a *TimeoutError and a
// panic as a *playbook.PanicError; both are failures like any other.
//
// A Group is itself an Enricher, so groups nest: an inner group can be one
// Spec of an outer group, and is required or optional as a whole.
//
// # Shared lookups
//
// Enrichers often need the same provider call (the user's profile, the
// role assignments). Lookup runs such a call once per Group.Enrich run:
// concurrent lookups of one key share one in-flight call, later ones are
// served from memory, and the memory is dropped when the run's enrichment
// ends. Outside a Group, Lookup simply calls its fetch function.
package enrich
