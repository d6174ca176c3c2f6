package ssf_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/ssf"
)

// TestConcurrentDuplicates pushes one SET from many goroutines at once:
// exactly one delivery is accepted and exactly one run starts; the others
// are answered as replays or asked to retry.
func TestConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	tok := e.tx.MustSign(compromise(e.tx))
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			res, err := push(t, e, tok, "", "")
			assert.NoError(t, err)
			mu.Lock()
			statuses[res.Status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.Equal(t, 1, statuses[http.StatusAccepted])
	assert.Equal(t, 20, statuses[http.StatusAccepted]+statuses[http.StatusBadRequest]+statuses[http.StatusServiceUnavailable])
	assert.Len(t, e.runs(t), 1)
}

// TestMultiEventSET: a SET carrying two events starts one run per event,
// with distinct event ids derived from the issuer, jti and type.
func TestMultiEventSET(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := compromise(e.tx)
	c["events"].(map[string]any)[ssf.CAEPSessionRevoked] = map[string]any{}
	res, err := push(t, e, e.tx.MustSign(c), "", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, res.Status)
	runs := e.runs(t)
	require.Len(t, runs, 2)
	assert.NotEqual(t, runs[0].Event.ID, runs[1].Event.ID)
	types := []playbook.EventType{runs[0].Event.Type, runs[1].Event.Type}
	assert.ElementsMatch(t, []playbook.EventType{playbook.EventCredentialCompromise, playbook.EventSessionSignal}, types)
}

// TestNewConfig names the missing field.
func TestNewConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	v, err := ssf.NewVerifier(ssf.VerifierConfig{Issuer: e.tx.Issuer, Audience: []string{"a"}, Keys: e.keys})
	require.NoError(t, err)
	for _, tc := range []struct {
		cfg    ssf.Config
		errHas string
	}{
		{ssf.Config{Handle: e.runner.Handle, Audit: e.trail}, "Verifier"},
		{ssf.Config{Verifier: v, Audit: e.trail}, "Handle"},
		{ssf.Config{Verifier: v, Handle: e.runner.Handle}, "Audit"},
		{ssf.Config{Verifier: v, Handle: e.runner.Handle, Audit: audit.Discard, Bearer: "two words"}, "Bearer"},
	} {
		_, err := ssf.New(tc.cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.errHas)
	}
	for _, tc := range []struct {
		cfg    ssf.VerifierConfig
		errHas string
	}{
		{ssf.VerifierConfig{Audience: []string{"a"}, Keys: e.keys}, "Issuer"},
		{ssf.VerifierConfig{Issuer: "i", Keys: e.keys}, "Audience"},
		{ssf.VerifierConfig{Issuer: "i", Audience: []string{"a"}}, "Keys"},
		{ssf.VerifierConfig{Issuer: "i", Audience: []string{"a"}, Keys: e.keys, Algorithms: []string{"HS256"}}, "HS256"},
		{ssf.VerifierConfig{Issuer: "i", Audience: []string{"a"}, Keys: e.keys, Algorithms: []string{"none"}}, "none"},
	} {
		_, err := ssf.NewVerifier(tc.cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.errHas)
	}
}

// TestAlgorithms: every allow-listed algorithm verifies end to end, and a
// verifier restricted to RS256 refuses ES256.
func TestAlgorithms(t *testing.T) {
	t.Parallel()
	for _, alg := range ssf.DefaultAlgorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			k, err := e.tx.NewKey(alg)
			require.NoError(t, err)
			e.tx.Publish(k)
			tok, err := e.tx.Sign(compromise(e.tx), ssftestSignKey(k))
			require.NoError(t, err)
			res, err := push(t, e, tok, "", "")
			require.NoError(t, err)
			assert.Equal(t, http.StatusAccepted, res.Status, res.Description)
		})
	}
	e := newEnv(t, envOptions{})
	v, err := ssf.NewVerifier(ssf.VerifierConfig{Issuer: e.tx.Issuer, Audience: []string{e.tx.Audience()}, Keys: e.keys, Algorithms: []string{"RS256"}})
	require.NoError(t, err)
	_, err = v.Verify(t.Context(), []byte(e.tx.MustSign(compromise(e.tx))))
	assert.ErrorIs(t, err, ssf.ErrAlgorithm)
}

// TestCriticalSubjectMembers: an event whose complex subject holds a
// critical member this package does not understand is discarded; the
// same member, not critical, is ignored and the event runs.
func TestCriticalSubjectMembers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		critical []string
		wantRuns int
	}{
		{name: "critical", critical: []string{"x_vehicle"}, wantRuns: 0},
		{name: "not critical", critical: []string{"user", "other"}, wantRuns: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{critical: tc.critical})
			c := e.tx.NewSET(ssf.RISCCredentialCompromise, map[string]any{"credential_type": "password"}, map[string]any{
				"format": "complex", "user": map[string]any{"format": "email", "email": "a@example.com"},
				"x_vehicle": map[string]any{"format": "opaque", "id": "car-1"},
			})
			res, err := push(t, e, e.tx.MustSign(c), "", "")
			require.NoError(t, err)
			assert.Equal(t, http.StatusAccepted, res.Status)
			assert.Len(t, e.runs(t), tc.wantRuns)
			assert.Len(t, e.records(ssf.TypeSETIgnored), 1-tc.wantRuns)
		})
	}
}

// TestKeyMustFitAlgorithm: a published key is used only for the algorithm
// it declares and, for ECDSA, only on its own curve.
func TestKeyMustFitAlgorithm(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		token func(t *testing.T, tx *ssftestTransmitter) string
	}{
		{name: "RSA key declared RS256, token PS256", token: func(t *testing.T, tx *ssftestTransmitter) string {
			rs, err := tx.NewKey("RS256")
			require.NoError(t, err)
			tx.Publish(rs)
			ps := *rs
			ps.Algorithm = "PS256"
			tok, err := tx.Sign(compromise(tx), ssftestSignKey(&ps))
			require.NoError(t, err)
			return tok
		}},
		{name: "P-384 key under the kid of an ES256 token", token: func(t *testing.T, tx *ssftestTransmitter) string {
			k256, err := tx.NewKey("ES256")
			require.NoError(t, err)
			k384, err := tx.NewKey("ES384")
			require.NoError(t, err)
			k384.Algorithm = ""
			tx.Publish(k384)
			opts := ssftestSignKey(k256)
			opts.Kid = k384.ID
			tok, err := tx.Sign(compromise(tx), opts)
			require.NoError(t, err)
			return tok
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			res, err := push(t, e, tc.token(t, e.tx), "", "")
			require.NoError(t, err)
			assert.Equal(t, http.StatusBadRequest, res.Status)
			assert.Equal(t, string(ssf.CodeInvalidKey), res.Err)
			assert.Empty(t, e.runs(t))
		})
	}
}
