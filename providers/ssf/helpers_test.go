package ssf_test

import (
	"context"
	"io"
	"iter"
	"log/slog"
	"maps"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/ssf"
	"github.com/iamplaybook/iamplaybook/providers/ssf/ssftest"
	"github.com/iamplaybook/iamplaybook/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is a transmitter, a receiver in front of a real runner and store,
// and the audit trail they share.
type env struct {
	tx     *ssftest.Transmitter
	keys   *ssf.KeySet
	rcv    *ssf.Receiver
	runner *playbook.Runner
	store  playbook.Store
	trail  *audit.Memory
	push   string // the receiver's push URL
}

type envOptions struct {
	tx       *ssftest.Transmitter // nil: a new one
	store    playbook.Store       // nil: a new memory store
	bearer   string
	maxBody  int64
	maxAge   time.Duration
	handle   func(h func(context.Context, playbook.Event) (string, error)) func(context.Context, playbook.Event) (string, error)
	onVerify func(context.Context, ssf.Verification)
	resolve  func(context.Context, ssf.SubjectID, playbook.Event) (playbook.Subject, error)
	critical []string
}

func logPolicy() playbook.Policy {
	return playbook.PolicyFunc(func(context.Context, *playbook.Case) (playbook.Decision, error) {
		return playbook.Decision{Response: playbook.RespondLog, Rule: "test/log"}, nil
	})
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{tx: o.tx, store: o.store, trail: audit.NewMemory()}
	if e.tx == nil {
		tx, err := ssftest.New(ssftest.Options{})
		require.NoError(t, err)
		t.Cleanup(tx.Close)
		e.tx = tx
	}
	if e.store == nil {
		e.store = store.NewMemory()
	}
	var err error
	e.runner, err = playbook.NewRunner(playbook.Playbook{Name: "ssf-test", Policy: logPolicy(), Audit: []playbook.AuditSink{e.trail}},
		playbook.Options{Store: e.store, Logger: quiet})
	require.NoError(t, err)
	e.keys, err = ssf.NewKeySet(e.tx.JWKSURI(), ssf.KeySetOptions{Client: e.tx.Client()})
	require.NoError(t, err)
	v, err := ssf.NewVerifier(ssf.VerifierConfig{Issuer: e.tx.Issuer, Audience: []string{e.tx.Audience()}, Keys: e.keys, MaxAge: o.maxAge})
	require.NoError(t, err)
	handle := e.runner.Handle
	if o.handle != nil {
		handle = o.handle(handle)
	}
	e.rcv, err = ssf.New(ssf.Config{Verifier: v, Handle: handle, Audit: e.trail, Bearer: o.bearer, MaxBodyBytes: o.maxBody,
		OnVerification: o.onVerify, Resolve: o.resolve, CriticalSubjectMembers: o.critical, Logger: quiet})
	require.NoError(t, err)
	srv := httptest.NewServer(e.rcv)
	t.Cleanup(srv.Close)
	e.push = srv.URL
	return e
}

func (e *env) runs(t *testing.T) []playbook.Run {
	t.Helper()
	runs, err := e.store.ListRuns(t.Context(), playbook.RunFilter{})
	require.NoError(t, err)
	return runs
}

func (e *env) records(typ audit.Type) []audit.Record {
	return e.trail.Filter(func(r audit.Record) bool { return r.Type == typ })
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func mapKeys[V any](m map[string]V) iter.Seq[string] { return maps.Keys(m) }

func ssftestSignKey(k *ssftest.Key) ssftest.SignOptions { return ssftest.SignOptions{Key: k} }

type ssftestTransmitter = ssftest.Transmitter
