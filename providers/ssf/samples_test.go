package ssf_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
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

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

var setSamples = []string{
	"caep-credential-change-set.json",
	"caep-risk-level-change-set.json",
	"caep-session-revoked-set.json",
	"okta-ssf-receiver-risc-identifier-changed.json",
	"risc-account-disabled-set.json",
	"ssf-verification-set.json",
}

// TestSpecSamples signs every published SET example with a transmitter
// whose issuer is the example's, delivers it to a receiver whose audience
// is the example's, and checks what the runner receives. The iat window is
// widened to reach the examples' dates.
func TestSpecSamples(t *testing.T) {
	t.Parallel()
	at := func(sec int64, ms int64) time.Time { return time.Unix(sec, ms*int64(time.Millisecond)).UTC() }
	cases := []struct {
		file        string
		want        ssf.Outcome
		typ         playbook.EventType
		risk        playbook.RiskLevel
		subject     string
		login       string
		occurred    time.Time
		attrs       map[string]string
		verifyState string
	}{
		{file: "caep-credential-change-set.json", want: ssf.OutcomeAccepted, typ: playbook.EventAccountSignal, risk: playbook.RiskLow,
			subject: "jane.smith@example.com", occurred: at(1615304991, 0),
			attrs: map[string]string{ssf.AttrCredKind: "fido2-roaming", ssf.AttrChangeType: "create", ssf.AttrInitiator: "user",
				ssf.AttrReasonAdmin: "User self-enrollment", ssf.AttrTransaction: "8675309", ssf.AttrSubject: "iss_sub:https://idp.example.com/3456789/|jane.smith@example.com"}},
		{file: "caep-risk-level-change-set.json", want: ssf.OutcomeAccepted, typ: playbook.EventRiskyUser, risk: playbook.RiskLow,
			subject: "jane.doe@example.com", occurred: at(1615304991, 0),
			attrs: map[string]string{ssf.AttrLevel: "LOW", ssf.AttrPrevious: "HIGH", ssf.AttrPrincipal: "USER", ssf.AttrRiskReason: "PASSWORD_FOUND_IN_DATA_BREACH"}},
		{file: "caep-session-revoked-set.json", want: ssf.OutcomeAccepted, typ: playbook.EventSessionSignal, risk: playbook.RiskLow,
			subject: "99beb27c-c1c2-4955-882a-e0dc4996fcbc", occurred: at(1615304991, 0),
			attrs: map[string]string{ssf.AttrSession: "opaque:dMTlD|1600802906337.16|16008.16", ssf.AttrTenant: "opaque:123456789",
				ssf.AttrInitiator: "policy", ssf.AttrReasonAdmin: "Landspeed Policy Violation: C076E82F", ssf.AttrReasonUser: "Access attempt from multiple regions."}},
		{file: "okta-ssf-receiver-risc-identifier-changed.json", want: ssf.OutcomeAccepted, typ: playbook.EventAccountSignal, risk: playbook.RiskLow,
			subject: "john@doe.net", login: "john@doe.net", occurred: at(1615304991, 643),
			attrs: map[string]string{ssf.AttrNewValue: "john.roe@example.com", ssf.AttrSubject: "email:john@doe.net"}},
		{file: "risc-account-disabled-set.json", want: ssf.OutcomeAccepted, typ: playbook.EventAccountSignal, risk: playbook.RiskHigh,
			subject: "7375626A656374", occurred: at(1508184845, 0), attrs: map[string]string{ssf.AttrReason: "hijacking"}},
		{file: "ssf-verification-set.json", want: ssf.OutcomeVerification, verifyState: "VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo="},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			raw := readSample(t, tc.file)
			var claims struct {
				Iss string       `json:"iss"`
				Aud ssf.Audience `json:"aud"`
			}
			require.NoError(t, json.Unmarshal(raw, &claims))
			tx, err := ssftest.NewInProcess(claims.Iss, ssftest.Options{}, nil)
			require.NoError(t, err)
			ks, err := ssf.NewKeySet(tx.JWKSURI(), ssf.KeySetOptions{Client: tx.Client()})
			require.NoError(t, err)
			v, err := ssf.NewVerifier(ssf.VerifierConfig{Issuer: tx.Issuer, Audience: claims.Aud, Keys: ks, MaxAge: 20 * 365 * 24 * time.Hour})
			require.NoError(t, err)
			trail := audit.NewMemory()
			st := store.NewMemory()
			runner, err := playbook.NewRunner(playbook.Playbook{Name: "samples", Policy: logPolicy(), Audit: []playbook.AuditSink{trail}}, playbook.Options{Store: st, Logger: quiet})
			require.NoError(t, err)
			var verified []ssf.Verification
			rcv, err := ssf.New(ssf.Config{Verifier: v, Handle: runner.Handle, Audit: trail, Logger: quiet,
				OnVerification: func(_ context.Context, v ssf.Verification) { verified = append(verified, v) }})
			require.NoError(t, err)

			res := rcv.Process(t.Context(), []byte(tx.MustSign(raw)), ssf.DeliveryPushed)
			require.Equal(t, tc.want, res.Outcome, "%v", res.Err)
			runs, err := st.ListRuns(t.Context(), playbook.RunFilter{})
			require.NoError(t, err)
			if tc.want != ssf.OutcomeAccepted {
				assert.Empty(t, runs)
				require.Len(t, verified, 1)
				assert.Equal(t, tc.verifyState, verified[0].State)
				return
			}
			require.Len(t, runs, 1)
			ev := runs[0].Event
			assert.Equal(t, tc.typ, ev.Type)
			assert.Equal(t, tc.risk, ev.Risk)
			assert.Equal(t, tc.subject, ev.Subject.ID)
			assert.Equal(t, ssf.DefaultProvider, ev.Subject.Provider)
			assert.Equal(t, tc.login, ev.Subject.Login)
			assert.Equal(t, tc.occurred, ev.OccurredAt.UTC())
			assert.Equal(t, ssf.EventSource, ev.Source)
			assert.Equal(t, claims.Iss, ev.Attributes[ssf.AttrIssuer])
			for k, want := range tc.attrs {
				assert.Equal(t, want, ev.Attributes[k], k)
			}
			assert.True(t, json.Valid(ev.Raw))
		})
	}
}

// TestPollResponseSample decodes the published poll response; its
// embedded demo SET is HS256, which the verifier refuses.
func TestPollResponseSample(t *testing.T) {
	t.Parallel()
	pr, err := ssf.DecodePollResponse(readSample(t, "rfc8936-poll-response.json"))
	require.NoError(t, err)
	require.Len(t, pr.Sets, 1)
	assert.False(t, pr.MoreAvailable)
	tok := pr.Sets["9e668e802d0311eca8830242ac120005"]
	h, err := ssf.ParseHeader(tok)
	require.NoError(t, err)
	assert.Equal(t, "HS256", h.Alg)

	tx, err := ssftest.NewInProcess("https://transmitter.most-secure.com/", ssftest.Options{}, nil)
	require.NoError(t, err)
	ks, err := ssf.NewKeySet(tx.JWKSURI(), ssf.KeySetOptions{Client: tx.Client()})
	require.NoError(t, err)
	v, err := ssf.NewVerifier(ssf.VerifierConfig{Issuer: "https://transmitter.most-secure.com/", Audience: []string{"https://popular-app.com"}, Keys: ks})
	require.NoError(t, err)
	_, err = v.Verify(t.Context(), []byte(tok))
	var se *ssf.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, ssf.CodeInvalidRequest, se.Code)
	assert.ErrorIs(t, err, ssf.ErrAlgorithm)
	assert.Zero(t, tx.JWKSFetches(), "an HMAC token is refused before any key is looked up")
}

// TestPushErrorBodyShape: the receiver's 400 body has exactly the members
// of the published RFC 8935 error body.
func TestPushErrorBodyShape(t *testing.T) {
	t.Parallel()
	var sample map[string]string
	require.NoError(t, json.Unmarshal(readSample(t, "rfc8935-push-error-response.json"), &sample))
	e := newEnv(t, envOptions{})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.push, stringsReader("x.y.z"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/secevent+jwt")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var got map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	assert.Equal(t, slices.Sorted(mapKeys(sample)), slices.Sorted(mapKeys(got)))
	assert.Equal(t, string(ssf.CodeInvalidRequest), got["err"])
}

// TestOktaMetadataSample decodes Okta's published transmitter metadata.
func TestOktaMetadataSample(t *testing.T) {
	t.Parallel()
	var md ssf.Metadata
	require.NoError(t, json.Unmarshal(readSample(t, "okta-well-known-ssf-configuration.json"), &md))
	assert.Equal(t, "https://{yourOktaDomain}/oauth2/v1/keys", md.JWKSURI)
	assert.Contains(t, md.DeliveryMethodsSupported, ssf.DeliveryPush)
	assert.Contains(t, md.DeliveryMethodsSupported, ssf.DeliveryLegacyPush)
	assert.Equal(t, "1_0-ID3", md.SpecVersion)
	assert.Equal(t, "https://{yourOktaDomain}/api/v1/ssf/stream/verification", md.VerificationEndpoint)
}
