package ssf_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/providers/ssf"
	"github.com/iamplaybook/iamplaybook/providers/ssf/ssftest"
)

// TestKeySetRateLimit: a flood of unknown kids causes at most one JWKS
// refetch per interval; a rotated key is picked up once the interval
// allows a refetch; a stale cache is refetched after MaxAge.
func TestKeySetRateLimit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tx, err := ssftest.NewInProcess("https://tx.example", ssftest.Options{}, nil)
		require.NoError(t, err)
		ks, err := ssf.NewKeySet(tx.JWKSURI(), ssf.KeySetOptions{Client: tx.Client(), MinRefreshInterval: 30 * time.Second, MaxAge: time.Hour})
		require.NoError(t, err)
		ctx := t.Context()

		keys, err := ks.Keys(ctx, tx.CurrentKey().ID)
		require.NoError(t, err)
		require.Len(t, keys, 1)
		require.Equal(t, 1, tx.JWKSFetches())

		// A rotation right after start-up is still picked up: the first
		// fetch does not count against the unknown-kid limit.
		k2, err := tx.Rotate()
		require.NoError(t, err)
		_, err = ks.Keys(ctx, k2.ID)
		require.NoError(t, err)
		require.Equal(t, 2, tx.JWKSFetches())

		var wg sync.WaitGroup
		for i := range 100 {
			wg.Go(func() {
				_, err := ks.Keys(ctx, fmt.Sprintf("bogus-%d", i))
				assert.ErrorIs(t, err, ssf.ErrUnknownKey)
			})
		}
		wg.Wait()
		assert.Equal(t, 2, tx.JWKSFetches(), "unknown kids inside the interval fetch nothing")

		k3, err := tx.Rotate()
		require.NoError(t, err)
		time.Sleep(29 * time.Second)
		_, err = ks.Keys(ctx, k3.ID)
		require.ErrorIs(t, err, ssf.ErrUnknownKey, "still inside the interval")
		assert.Equal(t, 2, tx.JWKSFetches())

		time.Sleep(time.Second)
		_, err = ks.Keys(ctx, k3.ID)
		require.NoError(t, err, "the interval has passed: one refetch finds the key")
		assert.Equal(t, 3, tx.JWKSFetches())

		_, err = ks.Keys(ctx, k3.ID)
		require.NoError(t, err)
		assert.Equal(t, 3, tx.JWKSFetches(), "a known kid is served from the cache")

		time.Sleep(time.Hour)
		_, err = ks.Keys(ctx, k3.ID)
		require.NoError(t, err)
		assert.Equal(t, 4, tx.JWKSFetches(), "a stale cache is refetched")
	})
}

// TestKeySetUnavailable: a JWKS that cannot be fetched is a transient
// error, retried no more than once per interval.
func TestKeySetUnavailable(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tx, err := ssftest.NewInProcess("https://tx.example", ssftest.Options{}, nil)
		require.NoError(t, err)
		ks, err := ssf.NewKeySet(tx.JWKSURI(), ssf.KeySetOptions{Client: tx.Client(), MinRefreshInterval: 10 * time.Second})
		require.NoError(t, err)
		tx.FailJWKS(1)
		_, err = ks.Keys(t.Context(), tx.CurrentKey().ID)
		require.ErrorIs(t, err, ssf.ErrUnavailable)
		_, err = ks.Keys(t.Context(), tx.CurrentKey().ID)
		require.ErrorIs(t, err, ssf.ErrUnavailable)
		assert.Equal(t, 1, tx.JWKSFetches(), "no second attempt inside the interval")
		time.Sleep(10 * time.Second)
		_, err = ks.Keys(t.Context(), tx.CurrentKey().ID)
		require.NoError(t, err)
		assert.Equal(t, 2, tx.JWKSFetches())
	})
}

// TestParseJWKS keeps public RSA and EC signature keys only: never a
// symmetric key (which would let an HMAC pass as a signature), a private
// key, or an encryption key.
func TestParseJWKS(t *testing.T) {
	t.Parallel()
	tx, err := ssftest.NewInProcess("https://tx.example", ssftest.Options{}, nil)
	require.NoError(t, err)
	rsaKey, err := tx.NewKey("RS256")
	require.NoError(t, err)
	pub := func(k *ssftest.Key) json.RawMessage {
		b, err := json.Marshal(k.Public())
		require.NoError(t, err)
		return b
	}
	enc := rsaKey.Public()
	enc.Use = "enc"
	encJSON, err := json.Marshal(enc)
	require.NoError(t, err)
	cases := []struct {
		name    string
		doc     string
		want    int
		wantErr bool
	}{
		{name: "ec and rsa", doc: fmt.Sprintf(`{"keys":[%s,%s]}`, pub(tx.CurrentKey()), pub(rsaKey)), want: 2},
		{name: "symmetric key dropped", doc: `{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`, want: 0},
		{name: "encryption key dropped", doc: fmt.Sprintf(`{"keys":[%s]}`, encJSON), want: 0},
		{name: "private key dropped", doc: `{"keys":[{"kty":"EC","crv":"P-256","kid":"p","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]}`, want: 0},
		{name: "garbage key skipped", doc: `{"keys":[{"kty":"RSA","n":"!!"}]}`, want: 0},
		{name: "not a key set", doc: `{"keyz":[]}`, wantErr: true},
		{name: "not JSON", doc: `<html>`, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			keys, err := ssf.ParseJWKS([]byte(tc.doc))
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Len(t, keys, tc.want)
		})
	}
}

// TestNewKeySetURL refuses plain http except to loopback addresses.
func TestNewKeySetURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"https://idp.example/keys", true},
		{"http://127.0.0.1:8080/keys", true},
		{"http://localhost/keys", true},
		{"http://idp.example/keys", false},
		{"ftp://idp.example/keys", false},
		{"/keys", false},
	} {
		_, err := ssf.NewKeySet(tc.uri, ssf.KeySetOptions{})
		assert.Equal(t, tc.ok, err == nil, tc.uri)
	}
}
