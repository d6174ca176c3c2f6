package entra_test

import (
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/providers/entra"
)

var fuzzSamples = []string{
	"live-riskDetection.json", "live-riskyUser.json", "live-signIn.json", "live-directoryAudit-add-member-to-role.json",
	"graph-error-429-toomanyrequests.json", "entra-token-error-invalid_scope.json", "graph-revokeSignInSessions-response.json",
}

func seed(f *testing.F) {
	for _, name := range fuzzSamples {
		f.Add(readTestdata(f, name))
	}
	f.Add(docsDetection(f))
	f.Add([]byte(`{"id":"x","userId":"u","additionalInfo":"[{\"Key\":1}]"}`))
	f.Add([]byte(`{"id":"x","category":"GroupManagement","result":"success","activityDisplayName":"Add member to group","targetResources":[{"id":"u","type":"User"}]}`))
	f.Add([]byte(`null`))
}

// FuzzDecoders feeds every record decoder the same input: none may panic,
// and each either succeeds with a valid event or fails wrapping
// ErrBadRecord.
func FuzzDecoders(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		check := func(name string, err error, validate func() error) {
			if err != nil {
				if !isBadRecord(err) {
					t.Fatalf("%s: error %v does not wrap ErrBadRecord", name, err)
				}
				return
			}
			if validate != nil {
				if verr := validate(); verr != nil {
					t.Fatalf("%s: decoded an invalid event: %v", name, verr)
				}
			}
		}
		ev, err := entra.DecodeRiskDetection(raw)
		check("riskDetection", err, func() error { return ev.Validate() })
		ru, err := entra.DecodeRiskyUser(raw)
		check("riskyUser", err, func() error { return ru.Validate() })
		_, err = entra.DecodeSignIn(raw)
		check("signIn", err, nil)
		da, ok, err := entra.DecodeDirectoryAudit(raw, entra.AuditOptions{PrivilegedRoles: []string{entra.GlobalAdministratorTemplateID}, PrivilegedGroups: []string{"g"}})
		check("directoryAudit", err, func() error {
			if !ok {
				return nil
			}
			return da.Validate()
		})
	})
}

// FuzzErrorBodies checks that the Graph and token error decoders never
// panic and never accept a body without a code.
func FuzzErrorBodies(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if ge, err := entra.ParseGraphError(raw); err == nil && ge.Code == "" {
			t.Fatal("ParseGraphError accepted a body without a code")
		}
		if te, err := entra.ParseTokenError(raw); err == nil && te.Error == "" {
			t.Fatal("ParseTokenError accepted a body without an error")
		}
	})
}

// FuzzParseRetryAfter checks that no header value yields a negative or
// absurd delay.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"2.128", "0", "120", "-1", "NaN", "1e308", "Wed, 21 Oct 2015 07:28:00 GMT", ""} {
		f.Add(s)
	}
	now := time.Date(2015, 10, 21, 7, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := entra.ParseRetryAfter(v, now)
		if ok && d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %s", v, d)
		}
		if !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q) = %s, false", v, d)
		}
	})
}
