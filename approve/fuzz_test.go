package approve_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/approve"
)

// FuzzVerifyWebhook feeds arbitrary headers and bodies to the receiver's
// check: it must never panic, and must accept only what the secret signed.
func FuzzVerifyWebhook(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	f.Add("1700000000", "v1=00", []byte(`{"kind":"requested"}`))
	f.Add("", "", []byte(nil))
	f.Add("-1", "v1=zz", []byte("{}"))
	f.Add("99999999999999999999", "v1=", []byte(`{"delivery":"run-1:approval/requested"}`))
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(approve.HeaderTimestamp, ts)
		h.Set(approve.HeaderSignature, sig)
		if err := approve.VerifyWebhook(secret, h, body, now, 5*time.Minute); err == nil {
			t.Fatalf("accepted an unsigned request: ts=%q sig=%q", ts, sig)
		}
	})
}
