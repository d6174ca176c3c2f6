package providertest

import (
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Harness describes the provider under test.
type Harness struct {
	// Provider is the provider name the subjects carry ("fake", "entra").
	// Required.
	Provider string
	// New returns a fresh instance of the provider with its own state (its
	// own emulator, tenant or fake). Run calls it once per case, from the
	// case's goroutine, and cases run in parallel, so instances must not
	// share state that a case changes (users, injected faults). Clean-up
	// belongs in t.Cleanup. Required.
	New func(t *testing.T) *Env
	// Skip names cases (see Cases) the provider cannot support, with the
	// reason; Run skips them and prints the reason.
	Skip map[string]string
}

// Env is one instance of the provider under test: the provider's actions
// and enrichers, and hooks that seed and inspect the provider's state
// through the provider's own emulator or fake, never through the code under
// test. Hooks report their own failures with t.Fatal.
//
// Optional hooks may be nil: the cases that need them are skipped with a
// message naming the missing hook.
type Env struct {
	// Actions are the provider's actions by name. Required. Missing
	// well-known actions skip the cases that need them.
	Actions map[string]playbook.Action
	// Enrichers are the provider's enrichers by name. Optional.
	Enrichers map[string]playbook.Enricher
	// Role names a privileged role the instance knows, as remove-role
	// accepts it in Params["role"] and HasRole in role. Optional; role
	// cases are skipped without it.
	Role string
	// Group names a group the instance knows, as remove-group-member
	// accepts it in Params["group"] and InGroup in group. Optional.
	Group string
	// UnknownSubject is a subject the instance has no account for. The
	// zero value means {Provider: Harness.Provider, ID:
	// "providertest-no-such-user"}.
	UnknownSubject playbook.Subject

	// NewUser creates an enabled account (unless spec says otherwise) and
	// returns its subject, with Provider set. Required.
	NewUser func(t *testing.T, spec UserSpec) playbook.Subject
	// UserEnabled reports whether the account is enabled. Required.
	UserEnabled func(t *testing.T, s playbook.Subject) bool
	// HasRole reports whether the account holds role.
	HasRole func(t *testing.T, s playbook.Subject, role string) bool
	// InGroup reports whether the account is a member of group.
	InGroup func(t *testing.T, s playbook.Subject, group string) bool
	// SessionCount returns the number of the account's active sessions.
	SessionCount func(t *testing.T, s playbook.Subject) int
	// InjectThrottle makes the next call that action op makes fail as the
	// provider's API fails when it throttles (HTTP 429 with Retry-After
	// set to retryAfter), once.
	InjectThrottle func(t *testing.T, op string, retryAfter time.Duration)
	// InjectPermissionDenied makes the next call that action op makes fail
	// as the provider's API fails when the credentials lack the right
	// (HTTP 403), once.
	InjectPermissionDenied func(t *testing.T, op string)
	// WriteCount returns the number of state-changing calls the instance
	// has received so far, across all accounts.
	WriteCount func(t *testing.T) int
}

// UserSpec describes an account for Env.NewUser.
type UserSpec struct {
	// Disabled creates the account disabled.
	Disabled bool
	// Privileged gives the account Env.Role.
	Privileged bool
	// InGroup makes the account a member of Env.Group.
	InGroup bool
	// Sessions is the number of active sessions to create.
	Sessions int
}
