package enrich

import (
	"context"

	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// Retry returns an enricher that retries e by the same rules as
// contain.Retry: transient errors back off, throttled ones wait for the
// provider's Retry-After, permanent ones (ErrNotFound,
// ErrPermissionDenied, ...) stop at once. Enrichment only reads, so
// retrying it is always safe; a retry overwrites what a failed attempt may
// have written to the case.
//
// Put Retry inside a Spec, so that the Spec's timeout bounds all attempts:
//
//	enrich.Required("profile", enrich.Retry(idp.ProfileEnricher(), contain.RetryPolicy{}), 10*time.Second)
//
// When retrying stops, the error is a *contain.RetryError wrapping the last
// attempt's error. An invalid policy is reported by every call without
// calling e.
func Retry(e playbook.Enricher, p contain.RetryPolicy) playbook.Enricher {
	return playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		attempt := playbook.ActionFunc("enrich", func(ctx context.Context, _ playbook.ActionRequest) (playbook.ActionResult, error) {
			return playbook.ActionResult{}, e.Enrich(ctx, c)
		})
		_, err := contain.Retry(attempt, p).Execute(ctx, playbook.ActionRequest{RunID: c.RunID, StepID: "enrich", Attempt: 1})
		return err
	})
}
