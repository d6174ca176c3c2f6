package entratest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/providers/entra/entratest"
)

const clientID, secret = "app-1", "secret-1"

type tenant struct {
	e   *entratest.Emulator
	hc  *http.Client
	tok string
}

func newTenant(t *testing.T) *tenant {
	t.Helper()
	e := entratest.New(entratest.Options{})
	require.NoError(t, e.AddSecretApp(clientID, secret))
	tn := &tenant{e: e, hc: e.Client()}
	status, body := tn.token(t, url.Values{"client_id": {clientID}, "client_secret": {secret}})
	require.Equal(t, http.StatusOK, status, body)
	tn.tok, _ = body["access_token"].(string)
	require.NotEmpty(t, tn.tok)
	assert.Equal(t, "Bearer", body["token_type"])
	assert.EqualValues(t, 3599, body["expires_in"])
	return tn
}

func (tn *tenant) token(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	form.Set("grant_type", "client_credentials")
	if form.Get("scope") == "" {
		form.Set("scope", "https://graph.microsoft.com/.default")
	}
	resp, err := tn.hc.PostForm(tn.e.TokenURL(), form)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func (tn *tenant) call(t *testing.T, method, path, body string) (*http.Response, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequestWithContext(t.Context(), method, tn.e.GraphURL()+path, rd)
	require.NoError(t, err)
	if tn.tok != "" {
		r.Header.Set("Authorization", "Bearer "+tn.tok)
	}
	resp, err := tn.hc.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		require.NoError(t, json.Unmarshal(b, &out), string(b))
	}
	return resp, out
}

func graphCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		err    string
		code   float64
	}{
		{"bad scope", url.Values{"client_id": {clientID}, "client_secret": {secret}, "scope": {"https://foo.microsoft.com/User.Read"}}, 400, "invalid_scope", 70011},
		{"wrong secret", url.Values{"client_id": {clientID}, "client_secret": {"nope"}}, 401, "invalid_client", 7000215},
		{"no credential", url.Values{"client_id": {clientID}}, 401, "invalid_client", 7000218},
		{"unknown app", url.Values{"client_id": {"x"}, "client_secret": {secret}}, 400, "unauthorized_client", 700016},
		{"assertion for a secret app", url.Values{"client_id": {clientID}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {"a.b.c"}}, 401, "invalid_client", 700027},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, body := tn.token(t, tc.form)
			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.err, body["error"])
			assert.Equal(t, []any{tc.code}, body["error_codes"])
			for _, k := range []string{"error_description", "timestamp", "trace_id", "correlation_id"} {
				assert.NotEmpty(t, body[k], k)
			}
			assert.NotContains(t, body["error_description"], secret)
		})
	}
}

func TestGraphAuthentication(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	id, err := tn.e.AddUser(entratest.User{UserPrincipalName: "ana@contoso.example"})
	require.NoError(t, err)
	resp, body := tn.call(t, http.MethodGet, "/users/"+id, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, true, body["accountEnabled"])

	anon := &tenant{e: tn.e, hc: tn.hc}
	resp, body = anon.call(t, http.MethodGet, "/users/"+id, "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "InvalidAuthenticationToken", graphCode(body))
	assert.NotEmpty(t, resp.Header.Get("WWW-Authenticate"))

	tn.e.ExpireTokens()
	resp, body = tn.call(t, http.MethodGet, "/users/"+id, "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
	assert.Contains(t, body["error"].(map[string]any)["message"], "expired")
}

func TestWireFormat(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tn := newTenant(t)
		id, err := tn.e.AddUser(entratest.User{UserPrincipalName: "ana@contoso.example", Sessions: 2})
		require.NoError(t, err)
		_, err = tn.e.AddRiskDetection(entratest.RiskDetection{UserID: id, RiskLevel: "high"})
		require.NoError(t, err)

		resp, body := tn.call(t, http.MethodGet, "/identityProtection/riskDetections", "")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		item := body["value"].([]any)[0].(map[string]any)
		assert.NotContains(t, item, "@odata.type", "live list items carry no @odata.type")
		assert.IsType(t, "", item["additionalInfo"], "additionalInfo is a JSON-encoded string")
		assert.Regexp(t, `\.\d{7}Z$`, item["detectedDateTime"])

		// A second Identity Protection call within the second: 429, no Retry-After.
		resp, body = tn.call(t, http.MethodGet, "/identityProtection/riskyUsers", "")
		assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		assert.Empty(t, resp.Header.Get("Retry-After"))
		assert.Equal(t, "TooManyRequests", graphCode(body))
		time.Sleep(time.Second)
		resp, _ = tn.call(t, http.MethodGet, "/identityProtection/riskyUsers", "")
		assert.Equal(t, http.StatusOK, resp.StatusCode)

		time.Sleep(time.Second)
		resp, body = tn.call(t, http.MethodGet, "/identityProtection/riskDetections?$top=1000", "")
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.Contains(t, body["error"].(map[string]any)["message"], "Invalid page size specified: '1000'")

		resp, body = tn.call(t, http.MethodPost, "/users/"+id+"/revokeSignInSessions", "")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, true, body["value"])
		u, _ := tn.e.User(id)
		assert.Zero(t, u.Sessions)

		tn.e.FailNext(entratest.Fault{Method: http.MethodPatch, Status: 429, RetryAfter: "2.128"})
		resp, body = tn.call(t, http.MethodPatch, "/users/"+id, `{"accountEnabled":false}`)
		assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		assert.Equal(t, "2.128", resp.Header.Get("Retry-After"))
		assert.Equal(t, "429", body["error"].(map[string]any)["innerError"].(map[string]any)["code"])
		resp, _ = tn.call(t, http.MethodPatch, "/users/"+id, `{"accountEnabled":false}`)
		assert.Equal(t, http.StatusNoContent, resp.StatusCode)
		assert.Equal(t, 3, tn.e.Writes())

		resp, body = tn.call(t, http.MethodGet, "/users/nobody", "")
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		assert.Equal(t, "Request_ResourceNotFound", graphCode(body))
	})
}

func TestGroupsPagingAndRef(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	g, err := tn.e.AddGroup(entratest.Group{DisplayName: "All Staff"})
	require.NoError(t, err)
	var ids []string
	for i := range 5 {
		id, err := tn.e.AddUser(entratest.User{UserPrincipalName: string(rune('a'+i)) + "@contoso.example"})
		require.NoError(t, err)
		require.NoError(t, tn.e.AddMember(g, id))
		ids = append(ids, id)
	}
	var seen []string
	path := "/groups/" + g + "/members?$top=2"
	for pages := 0; path != ""; pages++ {
		require.Less(t, pages, 4)
		resp, body := tn.call(t, http.MethodGet, path, "")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		for _, v := range body["value"].([]any) {
			seen = append(seen, v.(map[string]any)["id"].(string))
		}
		next, _ := body["@odata.nextLink"].(string)
		path = strings.TrimPrefix(next, tn.e.GraphURL())
	}
	assert.Equal(t, ids, seen)

	resp, _ := tn.call(t, http.MethodDelete, "/groups/"+g+"/members/"+ids[0]+"/$ref", "")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	_, ok := tn.e.User(ids[0])
	assert.True(t, ok, "/$ref removes the membership only")
	resp, _ = tn.call(t, http.MethodDelete, "/groups/"+g+"/members/"+ids[1], "")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	_, ok = tn.e.User(ids[1])
	assert.False(t, ok, "without /$ref the member object is deleted, as Graph warns")
}
