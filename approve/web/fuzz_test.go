package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/approve/web"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store"
)

// refuseAll fails the test if any verdict reaches it.
type refuseAll struct{ t *testing.T }

func (r refuseAll) Submit(ctx context.Context, v playbook.Verdict) error {
	r.t.Errorf("a verdict got through without a valid link: %+v", v)
	return nil
}

// FuzzHandler sends arbitrary link parameters and form bodies: the handler
// must never panic, always send its security headers, and never let a
// verdict through without a link signed by its key.
func FuzzHandler(f *testing.F) {
	h, err := web.New(web.Config{BaseURL: "https://iam.example.com/approve", Key: key, Store: store.NewMemory(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	valid, _ := h.Link("run-1:approval", "lead@example.com", time.Now().Add(time.Hour))
	u, _ := url.Parse(valid)
	f.Add(u.RawQuery, "decision=approve&csrf=1.AAAA&h=00")
	f.Add(strings.Replace(u.RawQuery, "lead", "mallory", 1), "decision=approve")
	f.Add("a=x&u=y&e=1&s=AAAA", "")
	f.Add("a=%ff&u=%00&e=-5&s=====", "reason=%ff%fe")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, query, body string) {
		h.Bind(refuseAll{t})
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			req := httptest.NewRequest(method, "https://iam.example.com/approve", strings.NewReader(body))
			req.URL.RawQuery = query
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("X-Frame-Options") != "DENY" {
				t.Fatalf("%s %q: security headers missing", method, query)
			}
			if rec.Code == http.StatusOK {
				t.Fatalf("%s %q: answered 200 without a stored request", method, query)
			}
		}
	})
}
