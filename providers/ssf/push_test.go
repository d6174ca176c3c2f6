package ssf_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/ssf"
	"github.com/iamplaybook/iamplaybook/providers/ssf/ssftest"
	"github.com/iamplaybook/iamplaybook/store"
)

func compromise(tx *ssftest.Transmitter) map[string]any {
	return tx.NewSET(ssf.RISCCredentialCompromise, map[string]any{"credential_type": "password"},
		map[string]any{"format": "email", "email": "ana@contoso.example"})
}

// TestPushRefusals delivers one bad SET per case over HTTP: each must get
// its status and RFC 8935 error code, be audited as rejected, and start
// no run. The valid case proves the harness can accept at all.
func TestPushRefusals(t *testing.T) {
	t.Parallel()
	type delivery struct {
		token, contentType, auth string
	}
	cases := []struct {
		name       string
		bearer     string
		maxBody    int64
		build      func(t *testing.T, tx *ssftest.Transmitter) delivery
		wantStatus int
		wantErr    ssf.ErrorCode
		wantRun    bool
	}{
		{name: "valid SET is accepted", wantStatus: http.StatusAccepted, wantRun: true,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery {
				return delivery{token: tx.MustSign(compromise(tx))}
			}},
		{name: "forged payload keeps a valid signature of other claims", wantStatus: 400, wantErr: ssf.CodeAuthenticationFailed,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery {
				tok := tx.MustSign(compromise(tx))
				forged, err := ssftest.Forge(tok, compromise(tx))
				require.NoError(t, err)
				return delivery{token: forged}
			}},
		{name: "alg none", wantStatus: 400, wantErr: ssf.CodeInvalidRequest,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery {
				tok, err := tx.Unsigned(compromise(tx))
				require.NoError(t, err)
				return delivery{token: tok}
			}},
		{name: "HS256 keyed with the public JWK", wantStatus: 400, wantErr: ssf.CodeInvalidRequest,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery {
				pub, err := json.Marshal(tx.CurrentKey().Public())
				require.NoError(t, err)
				tok, err := tx.HMAC(compromise(tx), pub)
				require.NoError(t, err)
				return delivery{token: tok}
			}},
		{name: "wrong issuer, signed by the transmitter", wantStatus: 400, wantErr: ssf.CodeInvalidIssuer,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery {
				c := compromise(tx)
				c["iss"] = "https://evil.example"
				return delivery{token: tx.MustSign(c)}
			}},
		{name: "wrong audience", wantStatus: 400, wantErr: ssf.CodeInvalidAudience,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery {
				c := compromise(tx)
				c["aud"] = []string{"https://someone-else.example", "urn:other"}
				return delivery{token: tx.MustSign(c)}
			}},
		{name: "no audience", wantStatus: 400, wantErr: ssf.CodeInvalidAudience,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery {
				c := compromise(tx)
				delete(c, "aud")
				return delivery{token: tx.MustSign(c)}
			}},
		{name: "iat older than the window", wantStatus: 400, wantErr: ssf.CodeInvalidRequest,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery {
				c := compromise(tx)
				c["iat"] = time.Now().Add(-25 * time.Hour).Unix()
				return delivery{token: tx.MustSign(c)}
			}},
		{name: "iat in the future", wantStatus: 400, wantErr: ssf.CodeInvalidRequest,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery {
				c := compromise(tx)
				c["iat"] = time.Now().Add(time.Hour).Unix()
				return delivery{token: tx.MustSign(c)}
			}},
		{name: "kid not in the JWKS even after refresh", wantStatus: 400, wantErr: ssf.CodeInvalidKey,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery {
				k, err := tx.NewKey("ES256") // never published
				require.NoError(t, err)
				tok, err := tx.Sign(compromise(tx), ssftest.SignOptions{Key: k})
				require.NoError(t, err)
				return delivery{token: tok}
			}},
		{name: "typ is not secevent+jwt", wantStatus: 400, wantErr: ssf.CodeInvalidRequest,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery {
				tok, err := tx.Sign(compromise(tx), ssftest.SignOptions{Typ: "JWT"})
				require.NoError(t, err)
				return delivery{token: tok}
			}},
		{name: "claims without jti", wantStatus: 400, wantErr: ssf.CodeInvalidRequest,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery {
				c := compromise(tx)
				delete(c, "jti")
				return delivery{token: tx.MustSign(c)}
			}},
		{name: "not a JWS", wantStatus: 400, wantErr: ssf.CodeInvalidRequest,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery { return delivery{token: "not.a-token"} }},
		{name: "risk-level-change with an unknown level", wantStatus: 400, wantErr: ssf.CodeInvalidRequest,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery {
				c := tx.NewSET(ssf.CAEPRiskLevelChange, map[string]any{"principal": "USER", "current_level": "SEVERE"},
					map[string]any{"format": "email", "email": "ana@contoso.example"})
				return delivery{token: tx.MustSign(c)}
			}},
		{name: "wrong content type", wantStatus: 400, wantErr: ssf.CodeInvalidRequest,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery {
				return delivery{token: tx.MustSign(compromise(tx)), contentType: "application/json"}
			}},
		{name: "oversized body", maxBody: 512, wantStatus: http.StatusRequestEntityTooLarge, wantErr: ssf.CodeInvalidRequest,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery {
				c := compromise(tx)
				c["padding"] = strings.Repeat("x", 600)
				return delivery{token: tx.MustSign(c)}
			}},
		{name: "missing bearer token", bearer: "s3cret-push-token", wantStatus: http.StatusUnauthorized, wantErr: ssf.CodeAuthenticationFailed,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery {
				return delivery{token: tx.MustSign(compromise(tx))}
			}},
		{name: "wrong bearer token", bearer: "s3cret-push-token", wantStatus: http.StatusUnauthorized, wantErr: ssf.CodeAuthenticationFailed,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery {
				return delivery{token: tx.MustSign(compromise(tx)), auth: "Bearer s3cret-push-tokem"}
			}},
		{name: "right bearer token", bearer: "s3cret-push-token", wantStatus: http.StatusAccepted, wantRun: true,
			build: func(t *testing.T, tx *ssftest.Transmitter) delivery {
				return delivery{token: tx.MustSign(compromise(tx)), auth: "Bearer s3cret-push-token"}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{bearer: tc.bearer, maxBody: tc.maxBody})
			d := tc.build(t, e.tx)
			res, err := push(t, e, d.token, d.contentType, d.auth)
			require.NoError(t, err)
			assert.Equal(t, tc.wantStatus, res.Status)
			assert.Equal(t, string(tc.wantErr), res.Err)
			runs := e.runs(t)
			rejected := e.records(audit.TypeEventRejected)
			if tc.wantRun {
				assert.Len(t, runs, 1)
				assert.Empty(t, rejected)
				return
			}
			assert.Empty(t, runs, "a refused SET must start no run")
			assert.Empty(t, e.records(audit.TypeEventReceived))
			require.Len(t, rejected, 1, "every refusal is audited")
			assert.Equal(t, string(tc.wantErr), rejected[0].Outcome)
			assert.Equal(t, res.Description, rejected[0].Error)
			for _, r := range e.trail.Records() {
				b, err := json.Marshal(r)
				require.NoError(t, err)
				assert.NotContains(t, string(b), d.token, "the token itself is never audited")
				assert.NotContains(t, string(b), "s3cret", "the bearer token is never audited")
			}
		})
	}
}

func push(t *testing.T, e *env, token, contentType, auth string) (ssftest.PushResult, error) {
	t.Helper()
	if contentType == "" {
		return e.tx.Push(t.Context(), http.DefaultClient, e.push, token, auth)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.push, strings.NewReader(token))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct{ Err, Description string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return ssftest.PushResult{Status: resp.StatusCode, Err: body.Err, Description: body.Description}, nil
}

// TestPushReplay sends the same SET twice: the second is answered as a
// replay by the receiver's own cache, audited as a duplicate, and starts
// no second run.
func TestPushReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	tok := e.tx.MustSign(compromise(e.tx))
	first, err := push(t, e, tok, "", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, first.Status)
	again, err := push(t, e, tok, "", "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, again.Status)
	assert.Equal(t, string(ssf.CodeInvalidRequest), again.Err)
	assert.Contains(t, again.Description, "already received")
	assert.Len(t, e.runs(t), 1)
	dups := e.records(audit.TypeEventDuplicate)
	require.Len(t, dups, 1)
	assert.Equal(t, "receiver replay cache", dups[0].Data["detected_by"])
}

// TestReplayAfterRestart replays a SET to a new receiver and runner that
// share the first one's store: the receiver's cache is empty, and the
// runner's durable de-duplication still refuses it.
func TestReplayAfterRestart(t *testing.T) {
	t.Parallel()
	st := store.NewMemory()
	first := newEnv(t, envOptions{store: st})
	tok := first.tx.MustSign(compromise(first.tx))
	res, err := push(t, first, tok, "", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, res.Status)

	second := newEnv(t, envOptions{store: st, tx: first.tx})
	res, err = push(t, second, tok, "", "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, res.Status)
	assert.Equal(t, string(ssf.CodeInvalidRequest), res.Err)
	runs := second.runs(t)
	require.Len(t, runs, 1, "still only the first run")
	dups := second.records(audit.TypeEventDuplicate)
	require.Len(t, dups, 1, "the runner audits the duplicate")
	assert.Equal(t, runs[0].Event.ID, dups[0].EventID)
	assert.Equal(t, runs[0].ID, dups[0].RunID)
}

// TestKeyRotation: after the transmitter rotates its key, the first SET
// signed with the new kid makes the receiver refetch the JWKS and is
// accepted.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	res, err := push(t, e, e.tx.MustSign(compromise(e.tx)), "", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, res.Status)
	require.Equal(t, 1, e.tx.JWKSFetches())

	old := e.tx.CurrentKey()
	_, err = e.tx.Rotate()
	require.NoError(t, err)
	e.tx.Retire(old.ID)
	res, err = push(t, e, e.tx.MustSign(compromise(e.tx)), "", "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, res.Status, res.Description)
	assert.Equal(t, 2, e.tx.JWKSFetches(), "the unknown kid caused one refetch")
	assert.Len(t, e.runs(t), 2)
}

// TestTransientFailures: when the runner cannot take the event, or the
// JWKS cannot be fetched, the push is answered 503 so that the transmitter
// retries, nothing is refused, and a retry later succeeds.
func TestTransientFailures(t *testing.T) {
	t.Parallel()
	t.Run("runner", func(t *testing.T) {
		t.Parallel()
		fail := true
		e := newEnv(t, envOptions{handle: func(h func(ctx context.Context, ev playbook.Event) (string, error)) func(ctx context.Context, ev playbook.Event) (string, error) {
			return func(ctx context.Context, ev playbook.Event) (string, error) {
				if fail {
					fail = false
					return "", playbook.ErrRunnerClosed
				}
				return h(ctx, ev)
			}
		}})
		tok := e.tx.MustSign(compromise(e.tx))
		res, err := push(t, e, tok, "", "")
		require.NoError(t, err)
		assert.Equal(t, http.StatusServiceUnavailable, res.Status)
		assert.Empty(t, e.runs(t))
		assert.Empty(t, e.records(audit.TypeEventRejected))
		res, err = push(t, e, tok, "", "")
		require.NoError(t, err)
		assert.Equal(t, http.StatusAccepted, res.Status, "the failed delivery left no trace in the replay cache")
		assert.Len(t, e.runs(t), 1)
	})
	t.Run("jwks", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOptions{})
		e.tx.FailJWKS(1)
		res, err := push(t, e, e.tx.MustSign(compromise(e.tx)), "", "")
		require.NoError(t, err)
		assert.Equal(t, http.StatusServiceUnavailable, res.Status)
		assert.Empty(t, e.runs(t))
		assert.Empty(t, e.records(audit.TypeEventRejected))
	})
}

// TestIgnoredAndVerification: unknown event types and stream-updated are
// accepted, audited and ignored; a verification event is answered and
// reported, and neither starts a run.
func TestIgnoredAndVerification(t *testing.T) {
	t.Parallel()
	var got []ssf.Verification
	e := newEnv(t, envOptions{onVerify: func(_ context.Context, v ssf.Verification) { got = append(got, v) }})
	sub := map[string]any{"format": "opaque", "id": "stream-1"}
	for _, c := range []map[string]any{
		e.tx.NewSET("https://schemas.example.com/secevent/acme/event-type/new-thing", map[string]any{"x": 1}, sub),
		e.tx.NewSET(ssf.SSFStreamUpdated, map[string]any{"status": "paused"}, sub),
		e.tx.NewSET(ssf.CAEPSessionRevoked, nil, map[string]any{"format": "complex", "device": map[string]any{"format": "opaque", "id": "dev-1"}}),
		e.tx.NewSET(ssf.SSFVerification, map[string]any{"state": "st-42"}, sub),
	} {
		res, err := push(t, e, e.tx.MustSign(c), "", "")
		require.NoError(t, err)
		assert.Equal(t, http.StatusAccepted, res.Status)
	}
	assert.Empty(t, e.runs(t))
	assert.Len(t, e.records(ssf.TypeSETIgnored), 3)
	require.Len(t, e.records(ssf.TypeVerification), 1)
	require.Len(t, got, 1)
	assert.Equal(t, "st-42", got[0].State)
	assert.Equal(t, "stream-1", got[0].StreamID)
}

// TestResolve maps the SET's subject onto a directory account, and treats
// an unknown account as ignored, not as an error.
func TestResolve(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{resolve: func(_ context.Context, id ssf.SubjectID, ev playbook.Event) (playbook.Subject, error) {
		if id.Email == "ana@contoso.example" {
			return playbook.Subject{Provider: "fake", ID: "u-ana", Login: id.Email}, nil
		}
		return playbook.Subject{}, ssf.ErrUnknownSubject
	}})
	res, err := push(t, e, e.tx.MustSign(compromise(e.tx)), "", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, res.Status)
	c := e.tx.NewSET(ssf.RISCCredentialCompromise, map[string]any{"credential_type": "password"}, map[string]any{"format": "email", "email": "nobody@contoso.example"})
	res, err = push(t, e, e.tx.MustSign(c), "", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, res.Status)
	runs := e.runs(t)
	require.Len(t, runs, 1)
	assert.Equal(t, "fake:u-ana", runs[0].Subject)
	assert.Equal(t, playbook.EventCredentialCompromise, runs[0].Event.Type)
	assert.Equal(t, playbook.RiskHigh, runs[0].Event.Risk)
	assert.Len(t, e.records(ssf.TypeSETIgnored), 1)
}

// TestMethodNotAllowed: only POST delivers.
func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	resp, err := http.Get(e.push)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, http.MethodPost, resp.Header.Get("Allow"))
}
