package okta_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/okta"
	"github.com/iamplaybook/iamplaybook/providers/okta/oktatest"
	"github.com/iamplaybook/iamplaybook/providers/providertest"
)

const testToken = "test-api-token-0123456789"

// env is an emulator and a provider over it.
type env struct {
	srv *oktatest.Server
	p   *okta.Provider
}

// newEnv starts a listening emulator and a provider using an API token.
func newEnv(t *testing.T, cfg okta.ProviderConfig) env {
	t.Helper()
	srv := oktatest.NewServer(oktatest.Options{APIToken: testToken})
	t.Cleanup(srv.Close)
	c, err := okta.New(okta.Config{OrgURL: srv.URL, APIToken: testToken, HTTPClient: srv.HTTPClient()})
	require.NoError(t, err)
	p, err := okta.NewProvider(c, cfg)
	require.NoError(t, err)
	return env{srv: srv, p: p}
}

// newInProcessEnv is newEnv without a listener, for synctest bubbles.
func newInProcessEnv(t *testing.T, opts oktatest.Options, cfg okta.Config) env {
	t.Helper()
	opts.APIToken = testToken
	srv := oktatest.NewInProcess(opts)
	cfg.OrgURL, cfg.APIToken, cfg.HTTPClient = srv.URL, testToken, srv.HTTPClient()
	c, err := okta.New(cfg)
	require.NoError(t, err)
	p, err := okta.NewProvider(c, okta.ProviderConfig{})
	require.NoError(t, err)
	return env{srv: srv, p: p}
}

var userSeq atomic.Int64

func (e env) user(t *testing.T, status string) string {
	t.Helper()
	n := userSeq.Add(1)
	id, err := e.srv.AddUser(oktatest.UserSpec{Login: fmt.Sprintf("user%d@example.com", n), FirstName: "User", LastName: fmt.Sprint(n), Status: status})
	require.NoError(t, err)
	return id
}

// opFor is the emulator endpoint where faults are injected for an action:
// its write for disable-user (reads are retried by the client itself).
var opFor = map[string]string{
	playbook.ActionDisableUser:        oktatest.OpSuspend,
	playbook.ActionRevokeSessions:     oktatest.OpGetUser,
	playbook.ActionResetCredentials:   oktatest.OpGetUser,
	playbook.ActionRemoveRole:         oktatest.OpListRoles,
	playbook.ActionRemoveGroupMember:  oktatest.OpGetUser,
	playbook.ActionConfirmCompromised: oktatest.OpGetRisk,
}

func TestConformance(t *testing.T) {
	t.Parallel()
	providertest.Run(t, providertest.Harness{
		Provider: okta.ProviderName,
		New: func(t *testing.T) *providertest.Env {
			e := newEnv(t, okta.ProviderConfig{})
			group := e.srv.AddGroup("Finance Approvers", "")
			return &providertest.Env{
				Actions:   e.p.Actions(),
				Enrichers: e.p.Enrichers(),
				Role:      okta.RoleSuperAdmin,
				Group:     group,
				NewUser: func(t *testing.T, spec providertest.UserSpec) playbook.Subject {
					status := okta.StatusActive
					if spec.Disabled {
						status = okta.StatusSuspended
					}
					id := e.user(t, status)
					if spec.Privileged {
						_, err := e.srv.AssignRole(id, okta.RoleSuperAdmin)
						require.NoError(t, err)
					}
					if spec.InGroup {
						require.NoError(t, e.srv.AddToGroup(id, group))
					}
					for range spec.Sessions {
						_, err := e.srv.AddSession(id, "198.51.100.7")
						require.NoError(t, err)
					}
					return e.p.Client().Subject(id)
				},
				UserEnabled: func(t *testing.T, s playbook.Subject) bool {
					u, ok := e.srv.User(s.ID)
					require.True(t, ok)
					return u.Status != okta.StatusSuspended && u.Status != okta.StatusDeprovisioned
				},
				HasRole: func(t *testing.T, s playbook.Subject, role string) bool {
					return slices.Contains(e.srv.Roles(s.ID), role)
				},
				InGroup: func(t *testing.T, s playbook.Subject, g string) bool { return e.srv.InGroup(s.ID, g) },
				SessionCount: func(t *testing.T, s playbook.Subject) int {
					return e.srv.Sessions(s.ID)
				},
				InjectThrottle: func(t *testing.T, op string, retryAfter time.Duration) {
					e.srv.InjectThrottle(opFor[op], retryAfter)
				},
				InjectPermissionDenied: func(t *testing.T, op string) {
					e.srv.InjectError(opFor[op], http.StatusForbidden, okta.CodeNoPermission, "You do not have permission to perform the requested action")
				},
				WriteCount: func(t *testing.T) int { return e.srv.Writes() },
			}
		},
	})
}
