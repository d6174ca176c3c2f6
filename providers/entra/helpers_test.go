package entra_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/entra"
	"github.com/iamplaybook/iamplaybook/providers/entra/entratest"
)

const (
	testClientID = "0c4f3e2d-1b0a-4f9e-8d7c-6b5a49382716"
	testSecret   = "s3cr3t-value-that-must-never-leak"
)

// fixture is an emulator with one secret app and a client for it.
type fixture struct {
	emu *entratest.Emulator
	c   *entra.Client
}

// newFixture builds an emulator served in-process (usable inside synctest
// bubbles) and a client; cfg may adjust the client's config.
func newFixture(t *testing.T, cfg func(*entra.Config)) fixture {
	t.Helper()
	return newFixtureOn(t, entratest.New(entratest.Options{}), cfg)
}

// newFixtureOn is newFixture with a given emulator.
func newFixtureOn(t *testing.T, emu *entratest.Emulator, cfg func(*entra.Config)) fixture {
	t.Helper()
	mustOK(t, emu.AddSecretApp(testClientID, testSecret))
	conf := entra.Config{TenantID: emu.TenantID(), ClientID: testClientID, ClientSecret: testSecret,
		GraphURL: emu.GraphURL(), TokenURL: emu.TokenURL(), HTTPClient: emu.Client()}
	if cfg != nil {
		cfg(&conf)
	}
	c, err := entra.New(conf)
	mustOK(t, err)
	return fixture{emu: emu, c: c}
}

func (f fixture) user(t *testing.T, login string, mod func(*entratest.User)) playbook.Subject {
	t.Helper()
	u := entratest.User{UserPrincipalName: login, DisplayName: login, Sessions: 2}
	if mod != nil {
		mod(&u)
	}
	id, err := f.emu.AddUser(u)
	mustOK(t, err)
	return playbook.Subject{Provider: entra.ProviderName, ID: id, Login: login}
}

func (f fixture) action(t *testing.T, name string) playbook.Action {
	t.Helper()
	a, ok := f.c.Action(name)
	if !ok {
		t.Fatalf("no action %s", name)
	}
	return a
}

func req(s playbook.Subject, key string, params map[string]string) playbook.ActionRequest {
	return playbook.ActionRequest{RunID: "run-1", StepID: "contain/0/x", IdempotencyKey: key, Subject: s, Params: params, Attempt: 1}
}

// requestsTo returns the emulator's log of requests with method to a path
// containing part.
func requestsTo(emu *entratest.Emulator, method, part string) []entratest.Request {
	var out []entratest.Request
	for _, r := range emu.Requests() {
		if r.Method == method && contains(r.Path, part) {
			out = append(out, r)
		}
	}
	return out
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// newCert returns a self-signed certificate and its key.
func newCert(t testing.TB) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "iamplaybook responder"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func thumbprint(der []byte) string {
	s := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(s[:])
}

var errDeadline = context.DeadlineExceeded

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}
