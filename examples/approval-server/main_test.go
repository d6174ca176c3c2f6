package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/approve/web"
)

// syncBuffer is an io.Writer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var tokenRE = regexp.MustCompile(`name="(csrf|h)" value="([^"]+)"`)

// TestApprovalServer drives the program in process as a person would with
// a browser: follow the printed link, read the page, press a button.
func TestApprovalServer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		decision string
		want     []string
	}{
		{decision: "approve", want: []string{"Approval approved.", "approved by secops-lead@contoso.example via web", "ended contained; the account is disabled: true."}},
		{decision: "deny", want: []string{"Approval denied.", "denied by secops-lead@contoso.example via web", "ended escalated; the account is disabled: false."}},
	}
	for _, tt := range tests {
		t.Run(tt.decision, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			invites := make(chan web.Invitation, 4)
			out := &syncBuffer{}
			done := make(chan error, 1)
			go func() {
				done <- run(t.Context(), config{listener: ln, wait: time.Hour, out: out,
					logger: slog.New(slog.NewTextHandler(io.Discard, nil)), invited: func(inv web.Invitation) { invites <- inv }})
			}()
			inv := <-invites
			assert.Equal(t, securityLead, inv.Approver)
			assert.Contains(t, out.String(), inv.URL, "the link is printed for a person to open")

			resp, err := http.Get(inv.URL)
			require.NoError(t, err)
			page, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(page))
			assert.Contains(t, string(page), "Gus Admin (gus@contoso.example)")
			assert.Contains(t, string(page), "impossibleTravel")
			form := url.Values{"decision": {tt.decision}, "reason": {"checked with Gus by phone"}}
			for _, m := range tokenRE.FindAllStringSubmatch(string(page), -1) {
				form.Set(m[1], m[2])
			}
			require.Len(t, form, 4, "the page carries its form token and summary hash")
			resp, err = http.Post(inv.URL, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))

			require.NoError(t, <-done)
			for _, w := range tt.want {
				assert.Contains(t, out.String(), w)
			}
		})
	}
}
