package ssf_test

import (
	"encoding/json"
	"testing"

	"github.com/iamplaybook/iamplaybook/providers/ssf"
)

// FuzzParseClaims: the SET parser never panics, and what it accepts has
// the required claims and at least one event.
func FuzzParseClaims(f *testing.F) {
	for _, name := range setSamples {
		f.Add(readSample(f, name))
	}
	f.Add([]byte(`{"iss":"i","jti":"j","iat":1,"aud":["a"],"events":{"x":{"subject":{"user":{"format":"email","email":"e"}},"event_timestamp":1e12}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ssf.ParseClaims(data)
		if err != nil {
			return
		}
		if s.Issuer == "" || s.ID == "" || len(s.Events) == 0 {
			t.Fatalf("accepted claims without iss, jti or events: %q", data)
		}
		for _, e := range s.Events {
			if ssf.Supported(e.Type) {
				_, _ = ssf.ToEvent(s, e, "p") // must not panic
			}
		}
	})
}

// FuzzParseSubjectID: the subject-identifier parser never panics, and an
// accepted identifier has a format and re-parses to the same principal.
func FuzzParseSubjectID(f *testing.F) {
	for _, name := range setSamples {
		var c struct {
			SubID  json.RawMessage                       `json:"sub_id"`
			Events map[string]map[string]json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal(readSample(f, name), &c); err != nil {
			f.Fatal(err)
		}
		if c.SubID != nil {
			f.Add([]byte(c.SubID))
		}
		for _, e := range c.Events {
			if s, ok := e["subject"]; ok {
				f.Add([]byte(s))
			}
		}
	}
	f.Add([]byte(`{"format":"aliases","identifiers":[{"format":"phone","phone_number":"+1"}]}`))
	f.Add([]byte(`{"subject_type":"iss_sub","iss":"i","sub":"s"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := ssf.ParseSubjectID(data)
		if err != nil {
			return
		}
		if id.Format == "" {
			t.Fatalf("accepted an identifier without format: %q", data)
		}
		p, ok := id.Principal()
		if !ok {
			return
		}
		if _, ok := p.Value(); !ok {
			t.Fatalf("principal without a value: %+v", p)
		}
		b, err := json.Marshal(id)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ssf.ParseSubjectID(b)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", b, err)
		}
		p2, _ := again.Principal()
		if p2.String() != p.String() {
			t.Fatalf("principal changed on round trip: %s != %s", p2, p)
		}
	})
}

// FuzzDecodePollResponse: the poll envelope decoder never panics.
func FuzzDecodePollResponse(f *testing.F) {
	f.Add(readSample(f, "rfc8936-poll-response.json"))
	f.Add([]byte(`{"sets":{},"moreAvailable":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pr, err := ssf.DecodePollResponse(data)
		if err == nil && pr.Sets == nil {
			t.Fatal("accepted a response without sets")
		}
	})
}

// FuzzParseHeader: the JWS header parser never panics.
func FuzzParseHeader(f *testing.F) {
	pr, err := ssf.DecodePollResponse(readSample(f, "rfc8936-poll-response.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, tok := range pr.Sets {
		f.Add(tok)
	}
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		_, _ = ssf.ParseHeader(tok)
	})
}
