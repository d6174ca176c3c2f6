package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/providers/entra/entratest"
)

const (
	appID     = "6a1f0c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
	appSecret = "responder-secret-never-logged"
)

// tenant is the emulated directory the responder runs against.
type tenant struct {
	emu                              *entratest.Emulator
	ana, gus, breakGlass, dave, erin string
	ray                              string
}

// newTenant seeds: Ana (standard user), Gus (Global Administrator), the
// break-glass account (Global Administrator), Dave and Erin (standard
// users whose disabling Graph refuses with 403 and 401), each with a high
// risk detection; and Ray, just made Global Administrator by an app.
func newTenant(t *testing.T) *tenant {
	emu := entratest.New(entratest.Options{})
	emu.Start()
	t.Cleanup(emu.Close)
	require.NoError(t, emu.AddSecretApp(appID, appSecret))
	tn := &tenant{emu: emu}
	add := func(upn, name string) string {
		id, err := emu.AddUser(entratest.User{UserPrincipalName: upn, DisplayName: name, Department: "Sales", Sessions: 2})
		require.NoError(t, err)
		return id
	}
	tn.ana = add("ana@contoso.example", "Ana Souza")
	tn.gus = add("gus@contoso.example", "Gus Admin")
	tn.breakGlass = add("breakglass@contoso.example", "Emergency Access")
	tn.dave = add("dave@contoso.example", "Dave Denied")
	tn.erin = add("erin@contoso.example", "Erin Expired")
	tn.ray = add("ray@contoso.example", "Ray Ortiz")
	for _, id := range []string{tn.gus, tn.breakGlass} {
		_, err := emu.AssignRole(id, entratest.GlobalAdministrator)
		require.NoError(t, err)
	}
	for _, id := range []string{tn.ana, tn.gus, tn.breakGlass, tn.dave, tn.erin} {
		_, err := emu.AddRiskDetection(entratest.RiskDetection{UserID: id, RiskLevel: "high", RiskEventType: "unfamiliarFeatures",
			DetectedAt: time.Now().Add(-10 * time.Minute)})
		require.NoError(t, err)
	}
	_, err := emu.AssignRole(tn.ray, entratest.GlobalAdministrator)
	require.NoError(t, err)
	_, err = emu.AddRoleAssignmentAudit(entratest.RoleAssignmentAudit{TargetUserID: tn.ray, RoleID: entratest.GlobalAdministrator, At: time.Now().Add(-5 * time.Minute)})
	require.NoError(t, err)
	emu.FailNext(entratest.Fault{Method: http.MethodPatch, PathContains: "/users/" + tn.dave, Status: http.StatusForbidden, Times: 1000})
	emu.FailNext(entratest.Fault{Method: http.MethodPatch, PathContains: "/users/" + tn.erin, Status: http.StatusUnauthorized, Times: 1000})
	return tn
}

func (tn *tenant) env(extra map[string]string) func(string) string {
	m := map[string]string{"ENTRA_TENANT_ID": tn.emu.TenantID(), "ENTRA_CLIENT_ID": appID, "ENTRA_CLIENT_SECRET": appSecret}
	for k, v := range extra {
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

func (tn *tenant) args(auditPath string, extra ...string) []string {
	return append([]string{"--graph-url", tn.emu.GraphURL(), "--token-url", tn.emu.TokenURL(), "--audit", auditPath,
		"--poll-interval", "2s", "--break-glass", "breakglass@contoso.example"}, extra...)
}

// syncBuffer is an io.Writer safe for the responder's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// trail reads the audit file as far as it is complete.
func trail(path string) []audit.Record {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	}
	recs, err := audit.ReadJSONL(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	return recs
}

// outcomes maps each subject ("entra:{id}") to its runs' terminal outcomes
// and to its approval requests.
func outcomes(recs []audit.Record) (resolved map[string][]string, approvals map[string]int) {
	resolved, approvals = map[string][]string{}, map[string]int{}
	for _, r := range recs {
		switch r.Type {
		case audit.TypeRunResolved:
			resolved[r.Subject] = append(resolved[r.Subject], r.Outcome)
		case audit.TypeApprovalRequested:
			approvals[r.Subject]++
		}
	}
	return resolved, approvals
}

// runUntil runs the responder until done reports true about the audit
// trail (checked as it grows), then stops it and returns the final trail.
func runUntil(t *testing.T, args []string, env func(string) string, auditPath string, done func([]audit.Record) bool) ([]audit.Record, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &syncBuffer{}
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, args, env, out) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(2 * time.Minute)
	for !done(trail(auditPath)) {
		select {
		case err := <-errc:
			t.Fatalf("the responder stopped early: %v\n%s", err, out.String())
		case <-deadline:
			cancel()
			<-errc
			t.Fatalf("the expected runs did not complete; log:\n%s", out.String())
		case <-tick.C:
		}
	}
	cancel()
	require.NoError(t, <-errc)
	f, err := os.Open(auditPath)
	require.NoError(t, err)
	defer f.Close()
	_, err = audit.Verify(f, audit.VerifyOptions{})
	require.NoError(t, err, "the audit trail's hash chain verifies")
	return trail(auditPath), out.String()
}

func key(id string) string { return "entra:" + id }

func all(outs []string, want string) bool {
	if len(outs) == 0 {
		return false
	}
	for _, o := range outs {
		if o != want {
			return false
		}
	}
	return true
}

// TestEnforce runs the responder in enforce mode against the emulator: the
// standard user is contained, the Global Administrators go to approval,
// the break-glass account is never touched, and 403 and 401 escalate with
// Graph's error code in the audit trail.
func TestEnforce(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	recs, log := runUntil(t, tn.args(auditPath, "--enforce", "--state-dir", t.TempDir()), tn.env(nil), auditPath, func(recs []audit.Record) bool {
		res, appr := outcomes(recs)
		return len(res[key(tn.ana)]) > 0 && len(res[key(tn.breakGlass)]) > 0 && len(res[key(tn.dave)]) > 0 &&
			len(res[key(tn.erin)]) > 0 && appr[key(tn.gus)] > 0 && appr[key(tn.ray)] > 0
	})
	res, appr := outcomes(recs)

	assert.True(t, all(res[key(tn.ana)], "contained"), "ana: %v", res[key(tn.ana)])
	ana, _ := tn.emu.User(tn.ana)
	assert.True(t, ana.Disabled, "ana is disabled")
	assert.Zero(t, ana.Sessions, "ana's sessions are revoked")

	assert.Empty(t, res[key(tn.gus)], "the Global Administrator waits for approval")
	gus, _ := tn.emu.User(tn.gus)
	assert.False(t, gus.Disabled)
	assert.Contains(t, log, "approval required", "approvers are told through the log")
	assert.Positive(t, appr[key(tn.ray)], "the new Global Administrator's grant waits for approval")
	assert.True(t, tn.emu.HasRole(tn.ray, entratest.GlobalAdministrator))

	assert.True(t, all(res[key(tn.breakGlass)], "escalated"), "break-glass: %v", res[key(tn.breakGlass)])
	bg, _ := tn.emu.User(tn.breakGlass)
	assert.False(t, bg.Disabled)
	assert.Equal(t, 2, bg.Sessions)
	for _, r := range tn.emu.Requests() {
		if r.Method != http.MethodGet && strings.Contains(r.Path, tn.breakGlass) {
			t.Errorf("the break-glass account was written to: %s %s", r.Method, r.Path)
		}
	}

	codes := map[string]string{}
	for _, r := range recs {
		if r.Type == audit.TypeActionResult && r.Outcome == "failed" {
			c, _ := r.Data["provider_code"].(string)
			codes[r.Subject] = c
			assert.Equal(t, "permanent", r.Data["error_class"], "%s: %s", r.Subject, r.Error)
		}
	}
	assert.True(t, all(res[key(tn.dave)], "escalated"), "dave: %v", res[key(tn.dave)])
	assert.Equal(t, "Authorization_RequestDenied", codes[key(tn.dave)])
	assert.True(t, all(res[key(tn.erin)], "escalated"), "erin: %v", res[key(tn.erin)])
	assert.Equal(t, "InvalidAuthenticationToken", codes[key(tn.erin)])
	for _, p := range [][2]string{{"dave", tn.dave}, {"erin", tn.erin}} {
		n := 0
		for _, r := range tn.emu.Requests() {
			if r.Method == http.MethodPatch && strings.Contains(r.Path, p[1]) {
				n++
			}
		}
		// 403: one PATCH per run. 401: one PATCH, a new token, one more.
		assert.Positive(t, n, p[0])
	}
	assert.NotContains(t, log, appSecret)
	raw, err := os.ReadFile(auditPath)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), appSecret)
}

// TestShadow runs the responder without --enforce: everything is decided
// and audited, nothing is written to the tenant.
func TestShadow(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	recs, _ := runUntil(t, tn.args(auditPath), tn.env(nil), auditPath, func(recs []audit.Record) bool {
		res, _ := outcomes(recs)
		return len(res[key(tn.ana)]) > 0 && len(res[key(tn.gus)]) > 0 && len(res[key(tn.breakGlass)]) > 0
	})
	res, _ := outcomes(recs)
	assert.True(t, all(res[key(tn.ana)], "dry-run"), "ana: %v", res[key(tn.ana)])
	assert.True(t, all(res[key(tn.breakGlass)], "escalated"), "break-glass: %v", res[key(tn.breakGlass)])
	assert.Zero(t, tn.emu.Writes(), "shadow mode writes nothing")
	ana, _ := tn.emu.User(tn.ana)
	assert.False(t, ana.Disabled)
}

// TestCertificateCredential starts the responder with a certificate from
// the environment and waits until it has a token.
func TestCertificateCredential(t *testing.T) {
	t.Parallel()
	emu := entratest.New(entratest.Options{})
	emu.Start()
	t.Cleanup(emu.Close)
	dir := t.TempDir()
	cert, keyPEM := writeCert(t, dir)
	require.NoError(t, emu.AddCertificateApp(appID, cert))
	env := map[string]string{"ENTRA_TENANT_ID": emu.TenantID(), "ENTRA_CLIENT_ID": appID,
		"ENTRA_CERT_FILE": filepath.Join(dir, "cert.pem"), "ENTRA_KEY_FILE": keyPEM}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"--graph-url", emu.GraphURL(), "--token-url", emu.TokenURL(), "--audit", filepath.Join(dir, "a.jsonl"), "--poll-interval", "1s"},
			func(k string) string { return env[k] }, &syncBuffer{})
	}()
	for emu.TokensIssued() == 0 {
		select {
		case err := <-errc:
			cancel()
			t.Fatalf("stopped: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	require.NoError(t, <-errc)
}

func writeCert(t *testing.T, dir string) (*x509.Certificate, string) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "responder"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	keyPath := filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600))
	return cert, keyPath
}

// TestBadConfiguration checks that bad flags and environments are refused
// with an error naming the problem, before anything starts.
func TestBadConfiguration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := map[string]string{"ENTRA_TENANT_ID": "contoso.example", "ENTRA_CLIENT_ID": appID, "ENTRA_CLIENT_SECRET": appSecret}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no tenant", nil, with("ENTRA_TENANT_ID", ""), "ENTRA_TENANT_ID and ENTRA_CLIENT_ID must be set"},
		{"no credential", nil, with("ENTRA_CLIENT_SECRET", ""), "set ENTRA_CLIENT_SECRET, or ENTRA_CERT_FILE and ENTRA_KEY_FILE"},
		{"both credentials", nil, with("ENTRA_CERT_FILE", "x.pem"), "not both"},
		{"missing certificate", nil, map[string]string{"ENTRA_TENANT_ID": "t", "ENTRA_CLIENT_ID": "c", "ENTRA_CERT_FILE": filepath.Join(dir, "none.pem"), "ENTRA_KEY_FILE": "k"}, "ENTRA_CERT_FILE"},
		{"bad interval", []string{"--poll-interval", "-1s"}, good, "must be positive"},
		{"stray argument", []string{"now"}, good, "unexpected arguments"},
		{"unknown flag", []string{"--force"}, good, "flag provided but not defined"},
		{"relative Graph URL", []string{"--graph-url", "graph.example/v1.0"}, good, "Config.GraphURL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--audit", filepath.Join(t.TempDir(), "a.jsonl")}, tc.args...)
			err := run(t.Context(), args, func(k string) string { return tc.env[k] }, &syncBuffer{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), appSecret)
		})
	}
}
