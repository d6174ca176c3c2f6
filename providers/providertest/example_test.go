package providertest_test

import (
	"fmt"

	"github.com/iamplaybook/iamplaybook/providers/providertest"
)

// A provider's test runs the suite with its harness:
//
//	func TestConformance(t *testing.T) {
//		providertest.Run(t, providertest.Harness{
//			Provider: "entra",
//			New: func(t *testing.T) *providertest.Env {
//				srv := graphemulator.New(t) // one emulator per case
//				c := entra.New(srv.Config())
//				return &providertest.Env{
//					Actions:     c.Actions(),
//					Enrichers:   c.Enrichers(),
//					Role:        "62e90394-69f5-4237-9190-012177145e10",
//					NewUser:     srv.NewUser,
//					UserEnabled: srv.UserEnabled,
//					// ...
//				}
//			},
//			Skip: map[string]string{"KeyOutlivesState": "reason"},
//		})
//	}
//
// Cases lists what it checks.
func ExampleCases() {
	for _, c := range providertest.Cases() {
		fmt.Println(c.Name)
	}
	// Output:
	// ActionNames
	// DisableThenAlreadyApplied
	// AlreadyDisabled
	// SameKeyAppliesOnce
	// KeyOutlivesState
	// ConcurrentSameKey
	// UnknownUser
	// MissingParameter
	// Throttled
	// PermissionDenied
	// UndoDisable
	// UndoRemoveRole
	// UndoRemoveGroupMember
	// UndoTwice
	// RevokeSessions
	// PlanChangesNothing
	// EnrichFacts
	// EnrichStandardUser
	// EnrichUnknownUser
}
