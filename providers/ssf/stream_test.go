package ssf_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/providers/ssf"
	"github.com/iamplaybook/iamplaybook/providers/ssf/ssftest"
)

// TestStreamManagement: discover the transmitter, create a push stream to
// the receiver, read it back (without its secret), read its status, and
// have the verification event travel to the receiver.
func TestStreamManagement(t *testing.T) {
	t.Parallel()
	tx, err := ssftest.New(ssftest.Options{Token: "mgmt-token"})
	require.NoError(t, err)
	t.Cleanup(tx.Close)
	var mu sync.Mutex
	var got []ssf.Verification
	e := newEnv(t, envOptions{tx: tx, bearer: "push-secret", onVerify: func(_ context.Context, v ssf.Verification) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, v)
	}})
	ctx := t.Context()

	md, err := ssf.Discover(ctx, tx.Client(), tx.Issuer)
	require.NoError(t, err)
	assert.Equal(t, tx.JWKSURI(), md.JWKSURI)
	assert.Contains(t, md.DeliveryMethodsSupported, ssf.DeliveryPoll)

	sc, err := ssf.NewStreamClient(md, tx.Client(), "Bearer mgmt-token")
	require.NoError(t, err)
	created, err := sc.CreateStream(ctx, ssf.StreamConfig{
		Delivery:        &ssf.StreamDelivery{Method: ssf.DeliveryPush, EndpointURL: e.push, AuthorizationHeader: "Bearer push-secret"},
		EventsRequested: []string{ssf.RISCCredentialCompromise, ssf.CAEPRiskLevelChange, "urn:example:unsupported"},
		Description:     "iamplaybook",
	})
	require.NoError(t, err)
	require.NotEmpty(t, created.StreamID)
	assert.Equal(t, []string{ssf.RISCCredentialCompromise, ssf.CAEPRiskLevelChange}, created.EventsDelivered)

	_, err = sc.CreateStream(ctx, ssf.StreamConfig{})
	var se *ssf.StreamError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusConflict, se.Status)

	read, err := sc.Stream(ctx, created.StreamID)
	require.NoError(t, err)
	assert.Equal(t, created.StreamID, read.StreamID)
	assert.Empty(t, read.Delivery.AuthorizationHeader, "the push secret is not echoed")

	tx.SetStatus("paused")
	st, err := sc.Status(ctx, created.StreamID)
	require.NoError(t, err)
	assert.Equal(t, "paused", st.Status)

	require.NoError(t, sc.RequestVerification(ctx, created.StreamID, "state-7"))
	mu.Lock()
	require.Len(t, got, 1)
	assert.Equal(t, "state-7", got[0].State)
	assert.Equal(t, created.StreamID, got[0].StreamID)
	mu.Unlock()
	assert.Empty(t, e.runs(t), "a verification event starts no run")

	_, err = sc.Stream(ctx, "no-such-stream")
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusNotFound, se.Status)

	bad, err := ssf.NewStreamClient(md, tx.Client(), "Bearer wrong")
	require.NoError(t, err)
	_, err = bad.Status(ctx, created.StreamID)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusUnauthorized, se.Status)
}

// TestDiscover refuses metadata that speaks for another issuer.
func TestDiscover(t *testing.T) {
	t.Parallel()
	tx, err := ssftest.New(ssftest.Options{})
	require.NoError(t, err)
	t.Cleanup(tx.Close)
	_, err = ssf.Discover(t.Context(), tx.Client(), tx.Issuer+"/")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "names issuer")

	u, err := ssf.WellKnownURL("https://idp.example/tenant/1")
	require.NoError(t, err)
	assert.Equal(t, "https://idp.example/.well-known/ssf-configuration/tenant/1", u)
	_, err = ssf.WellKnownURL("http://idp.example")
	assert.Error(t, err)
}
