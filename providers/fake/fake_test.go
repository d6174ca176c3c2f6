package fake_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/fake"
	"github.com/iamplaybook/iamplaybook/providers/providertest"
)

// harness returns a conformance harness for fake providers built with opts;
// role and group are the references the suite uses, and wrap (optional)
// may replace the provider's actions, to build deliberately broken
// providers.
func harness(role, group string, wrap func(map[string]playbook.Action) map[string]playbook.Action, opts ...fake.Option) providertest.Harness {
	name := fake.New(opts...).Name()
	return providertest.Harness{
		Provider: name,
		New: func(t *testing.T) *providertest.Env {
			p := fake.New(opts...)
			require.NoError(t, p.DefineGroup(fake.GroupDef{ID: "g-tier0", Name: "Tier0 Admins", Privileged: true}))
			var n atomic.Int64
			actions := p.Actions()
			if wrap != nil {
				actions = wrap(actions)
			}
			return &providertest.Env{
				Actions:   actions,
				Enrichers: p.Enrichers(),
				Role:      role,
				Group:     group,
				NewUser: func(t *testing.T, spec providertest.UserSpec) playbook.Subject {
					id := fmt.Sprintf("u-%d", n.Add(1))
					require.NoError(t, p.AddUser(fake.User{ID: id, Login: id + "@example.com", Disabled: spec.Disabled}))
					if spec.Privileged {
						_, err := p.AssignRole(id, role, "")
						require.NoError(t, err)
					}
					if spec.InGroup {
						require.NoError(t, p.AddToGroup(id, group))
					}
					for range spec.Sessions {
						_, err := p.AddSession(id, playbook.Session{Device: "laptop"})
						require.NoError(t, err)
					}
					return p.Subject(id)
				},
				UserEnabled: func(t *testing.T, s playbook.Subject) bool {
					u, ok := p.User(s.ID)
					if !ok {
						t.Fatalf("user %s does not exist", s.ID)
					}
					return !u.Disabled
				},
				HasRole:      func(_ *testing.T, s playbook.Subject, role string) bool { return p.HasRole(s.ID, role) },
				InGroup:      func(_ *testing.T, s playbook.Subject, group string) bool { return p.InGroup(s.ID, group) },
				SessionCount: func(_ *testing.T, s playbook.Subject) int { return len(p.Sessions(s.ID)) },
				InjectThrottle: func(t *testing.T, op string, retryAfter time.Duration) {
					require.NoError(t, p.Throttle(op, retryAfter, 1))
				},
				InjectPermissionDenied: func(t *testing.T, op string) {
					require.NoError(t, p.Fail(op, playbook.ErrPermissionDenied, 1))
				},
				WriteCount: func(*testing.T) int { return p.WriteCount(fake.AnyOp) },
			}
		},
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		role, group string
		opts        []fake.Option
	}{
		{"by-id", "global-admin", "g-tier0", nil},
		{"by-name", "Global Administrator", "Tier0 Admins", nil},
		{"by-template", "62e90394-69f5-4237-9190-012177145e10", "g-tier0", []fake.Option{fake.WithName("acme")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			providertest.Run(t, harness(tc.role, tc.group, nil, tc.opts...))
		})
	}
}

// wrapped is an action decorator that breaks the action in the way fn says;
// it exposes the wrapped action's optional interfaces through Unwrap unless
// it overrides them itself.
type wrapped struct {
	playbook.Action
	exec func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error)
}

func (w wrapped) Execute(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
	return w.exec(ctx, req)
}
func (w wrapped) Unwrap() playbook.Action { return w.Action }

// planWrites is a broken action whose Plan executes.
type planWrites struct{ playbook.Action }

func (a planWrites) Plan(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
	res, err := a.Execute(ctx, req)
	res.Status = playbook.StatusDryRun
	return res, err
}

// undoNoop is a broken action whose Undo claims success and does nothing.
type undoNoop struct{ playbook.Action }

func (undoNoop) Undo(context.Context, playbook.ActionRequest, playbook.ActionResult) (playbook.ActionResult, error) {
	return playbook.ActionResult{Status: playbook.StatusUndone}, nil
}

// brokenProviders are fakes with one rule broken each, and the conformance
// case that must catch it.
var brokenProviders = map[string]struct {
	wantFail string
	wrap     func(m map[string]playbook.Action) map[string]playbook.Action
}{
	"forgets-keys": {"KeyOutlivesState", func(m map[string]playbook.Action) map[string]playbook.Action {
		a := m[playbook.ActionDisableUser]
		m[playbook.ActionDisableUser] = wrapped{a, func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
			req.IdempotencyKey = ""
			return a.Execute(ctx, req)
		}}
		return m
	}},
	"plan-writes": {"PlanChangesNothing", func(m map[string]playbook.Action) map[string]playbook.Action {
		m[playbook.ActionDisableUser] = planWrites{m[playbook.ActionDisableUser]}
		return m
	}},
	"undo-noop": {"UndoDisable", func(m map[string]playbook.Action) map[string]playbook.Action {
		m[playbook.ActionDisableUser] = undoNoop{m[playbook.ActionDisableUser]}
		return m
	}},
	"not-found-transient": {"UnknownUser", func(m map[string]playbook.Action) map[string]playbook.Action {
		a := m[playbook.ActionRevokeSessions]
		m[playbook.ActionRevokeSessions] = wrapped{a, func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
			res, err := a.Execute(ctx, req)
			if errors.Is(err, playbook.ErrNotFound) {
				err = fmt.Errorf("%w: %v", playbook.ErrUnavailable, err.Error())
			}
			return res, err
		}}
		return m
	}},
	"double-apply": {"SameKeyAppliesOnce", func(m map[string]playbook.Action) map[string]playbook.Action {
		a := m[playbook.ActionDisableUser]
		m[playbook.ActionDisableUser] = wrapped{a, func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
			res, err := a.Execute(ctx, req)
			if res.Status == playbook.StatusAlreadyApplied {
				res.Status = playbook.StatusApplied
			}
			return res, err
		}}
		return m
	}},
}

const brokenEnv = "FAKE_BROKEN_PROVIDER"

// TestBrokenProviderHelper runs the suite against one broken provider when
// started by TestSuiteCatchesBrokenProviders; otherwise it does nothing.
func TestBrokenProviderHelper(t *testing.T) {
	variant := os.Getenv(brokenEnv)
	if variant == "" {
		t.Skip("runs only as a subprocess of TestSuiteCatchesBrokenProviders")
	}
	b, ok := brokenProviders[variant]
	if !ok {
		t.Fatalf("unknown broken provider %q", variant)
	}
	providertest.Run(t, harness("global-admin", "g-tier0", b.wrap))
}

// TestSuiteCatchesBrokenProviders checks that the conformance suite can
// fail: each broken provider, run in a subprocess, must fail the case
// guarding the rule it breaks.
func TestSuiteCatchesBrokenProviders(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	for variant, b := range brokenProviders {
		t.Run(variant, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), exe, "-test.run=^TestBrokenProviderHelper$", "-test.v")
			cmd.Env = append(os.Environ(), brokenEnv+"="+variant)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the suite passed a provider that is %s (err %v):\n%s", variant, err, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestBrokenProviderHelper/"+b.wantFail+" ") {
				t.Fatalf("case %s did not fail:\n%s", b.wantFail, out)
			}
			if strings.Contains(string(out), "panic:") {
				t.Fatalf("the suite panicked:\n%s", out)
			}
		})
	}
}

func TestCasesHaveRules(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, c := range providertest.Cases() {
		switch {
		case c.Rule == "":
			t.Errorf("case %s has no rule", c.Name)
		case seen[c.Name]:
			t.Errorf("duplicate case %s", c.Name)
		case strings.ContainsAny(c.Name, " /"):
			t.Errorf("case name %q is not usable in -run", c.Name)
		}
		seen[c.Name] = true
	}
	for v, b := range brokenProviders {
		if !seen[b.wantFail] {
			t.Errorf("broken provider %s targets unknown case %s", v, b.wantFail)
		}
	}
}
