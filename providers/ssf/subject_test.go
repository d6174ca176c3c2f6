package ssf_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/providers/ssf"
)

// TestParseSubjectID covers every format, the legacy and vendor variants,
// and the malformed identifiers that must be refused with a reason.
func TestParseSubjectID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		in        string
		principal string // String() of the principal; "" for none
		errHas    string
	}{
		{name: "email", in: `{"format":"email","email":"a@example.com"}`, principal: "email:a@example.com"},
		{name: "iss_sub", in: `{"format":"iss_sub","iss":"https://idp.example/","sub":"145"}`, principal: "iss_sub:https://idp.example/|145"},
		{name: "opaque", in: `{"format":"opaque","id":"11112222"}`, principal: "opaque:11112222"},
		{name: "phone_number", in: `{"format":"phone_number","phone_number":"+12065550100"}`, principal: "phone_number:+12065550100"},
		{name: "phone synonym", in: `{"format":"phone","phone_number":"+12065550100"}`, principal: "phone_number:+12065550100"},
		{name: "account", in: `{"format":"account","uri":"acct:a@example.com"}`, principal: "account:acct:a@example.com"},
		{name: "did", in: `{"format":"did","url":"did:example:123"}`, principal: "did:did:example:123"},
		{name: "legacy subject_type", in: `{"subject_type":"email","email":"a@example.com"}`, principal: "email:a@example.com"},
		{name: "complex user and device", in: `{"format":"complex","user":{"format":"email","email":"u@example.com"},"device":{"format":"opaque","id":"d1"}}`, principal: "email:u@example.com"},
		{name: "complex device only", in: `{"format":"complex","device":{"format":"opaque","id":"d1"}}`},
		{name: "okta member without format", in: `{"user":{"format":"email","email":"john@doe.net"}}`, principal: "email:john@doe.net"},
		{name: "aliases prefer iss_sub", in: `{"format":"aliases","identifiers":[{"format":"opaque","id":"x"},{"format":"email","email":"e@example.com"},{"format":"iss_sub","iss":"https://i/","sub":"s"}]}`, principal: "iss_sub:https://i/|s"},
		{name: "ip addresses name no account", in: `{"format":"ip-addresses","ip-addresses":["192.0.2.1"]}`},
		{name: "jwt_id", in: `{"format":"jwt_id","iss":"https://i/","jti":"j1"}`},
		{name: "saml assertion", in: `{"format":"saml_assertion_id","issuer":"https://i/","assertion_id":"a1"}`},
		{name: "unknown format kept", in: `{"format":"x-new","thing":"y"}`},
		{name: "unknown members ignored", in: `{"format":"email","email":"a@example.com","extra":{"deep":[1,2]}}`, principal: "email:a@example.com"},

		{name: "not an object", in: `["email"]`, errHas: "not a JSON object"},
		{name: "no format", in: `{"email":"a@example.com"}`, errHas: "no format"},
		{name: "format not a string", in: `{"format":7,"email":"a@example.com"}`, errHas: "format is not"},
		{name: "email missing", in: `{"format":"email"}`, errHas: `lacks "email"`},
		{name: "email not a string", in: `{"format":"email","email":42}`, errHas: "not a string"},
		{name: "email empty", in: `{"format":"email","email":"  "}`, errHas: "empty"},
		{name: "iss_sub without sub", in: `{"format":"iss_sub","iss":"https://i/"}`, errHas: `lacks "sub"`},
		{name: "nested complex", in: `{"format":"complex","user":{"format":"complex","user":{"format":"opaque","id":"x"}}}`, errHas: "nested"},
		{name: "complex without members", in: `{"format":"complex"}`, errHas: "no member"},
		{name: "aliases nested", in: `{"format":"aliases","identifiers":[{"format":"aliases","identifiers":[]}]}`, errHas: "aliases"},
		{name: "aliases empty", in: `{"format":"aliases","identifiers":[]}`, errHas: "non-empty"},
		{name: "ip addresses empty", in: `{"format":"ip-addresses","ip-addresses":[]}`, errHas: "ip-addresses"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, err := ssf.ParseSubjectID([]byte(tc.in))
			if tc.errHas != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.errHas)
				return
			}
			require.NoError(t, err)
			p, ok := id.Principal()
			if tc.principal == "" {
				assert.False(t, ok, "principal %v", p)
				return
			}
			require.True(t, ok)
			assert.Equal(t, tc.principal, p.String())
		})
	}
}

// TestParseClaims covers the SET claim rules beyond the samples.
func TestParseClaims(t *testing.T) {
	t.Parallel()
	ev := `"events":{"https://schemas.openid.net/secevent/caep/event-type/session-revoked":{}}`
	cases := []struct {
		name   string
		in     string
		errHas string
		check  func(t *testing.T, s *ssf.SET)
	}{
		{name: "aud array", in: `{"iss":"i","jti":"j","iat":1,"aud":["a","b"],` + ev + `}`,
			check: func(t *testing.T, s *ssf.SET) { assert.Equal(t, []string{"a", "b"}, s.Audience) }},
		{name: "fractional iat", in: `{"iss":"i","jti":"j","iat":1.5,` + ev + `}`,
			check: func(t *testing.T, s *ssf.SET) { assert.Equal(t, int64(1500), s.IssuedAt.UnixMilli()) }},
		{name: "event_timestamp seconds", in: `{"iss":"i","jti":"j","iat":1,"events":{"x":{"event_timestamp":1615304991}}}`,
			check: func(t *testing.T, s *ssf.SET) { assert.Equal(t, int64(1615304991), s.Events[0].Timestamp.Unix()) }},
		{name: "event_timestamp millis", in: `{"iss":"i","jti":"j","iat":1,"events":{"x":{"event_timestamp":1615304991643}}}`,
			check: func(t *testing.T, s *ssf.SET) {
				assert.Equal(t, int64(1615304991643), s.Events[0].Timestamp.UnixMilli())
			}},
		{name: "legacy string reason", in: `{"iss":"i","jti":"j","iat":1,"events":{"x":{"reason_admin":"because"}}}`,
			check: func(t *testing.T, s *ssf.SET) { assert.Equal(t, "because", s.Events[0].ReasonAdmin[""]) }},
		{name: "several events sorted", in: `{"iss":"i","jti":"j","iat":1,"events":{"b":{},"a":{}}}`,
			check: func(t *testing.T, s *ssf.SET) { assert.Equal(t, "a", s.Events[0].Type) }},
		{name: "missing iss", in: `{"jti":"j","iat":1,` + ev + `}`, errHas: `"iss" is required`},
		{name: "iss not a string", in: `{"iss":5,"jti":"j","iat":1,` + ev + `}`, errHas: `"iss" is not a string`},
		{name: "missing iat", in: `{"iss":"i","jti":"j",` + ev + `}`, errHas: `"iat" is required`},
		{name: "iat a string", in: `{"iss":"i","jti":"j","iat":"1",` + ev + `}`, errHas: `"iat" is not a number`},
		{name: "iat out of range", in: `{"iss":"i","jti":"j","iat":1e300,` + ev + `}`, errHas: "between 1970 and 9999"},
		{name: "aud number", in: `{"iss":"i","jti":"j","iat":1,"aud":3,` + ev + `}`, errHas: `"aud" is neither`},
		{name: "no events", in: `{"iss":"i","jti":"j","iat":1}`, errHas: `"events" is required`},
		{name: "empty events", in: `{"iss":"i","jti":"j","iat":1,"events":{}}`, errHas: "holds no event"},
		{name: "event not an object", in: `{"iss":"i","jti":"j","iat":1,"events":{"x":true}}`, errHas: "not a JSON object"},
		{name: "bad event_timestamp", in: `{"iss":"i","jti":"j","iat":1,"events":{"x":{"event_timestamp":"now"}}}`, errHas: "event_timestamp"},
		{name: "bad sub_id", in: `{"iss":"i","jti":"j","iat":1,"sub_id":{"format":"email"},` + ev + `}`, errHas: "sub_id"},
		{name: "trailing data", in: `{"iss":"i","jti":"j","iat":1,` + ev + `} {}`, errHas: "trailing"},
		{name: "not JSON", in: `eyJ`, errHas: "not a JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := ssf.ParseClaims([]byte(tc.in))
			if tc.errHas != "" {
				require.ErrorIs(t, err, ssf.ErrMalformed)
				assert.Contains(t, err.Error(), tc.errHas)
				return
			}
			require.NoError(t, err)
			tc.check(t, s)
		})
	}
}
