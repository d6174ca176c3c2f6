package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/approve/web"
)

// Invitations posted through a webhook carry each approver's own working
// link, signed like every webhook payload, one recipient per payload.
func TestWebhookDeliverPostsPersonalLinks(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef-pager")
	var mu sync.Mutex
	var got []approve.WebhookPayload
	pager := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := approve.VerifyWebhook(secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var p approve.WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	}))
	t.Cleanup(pager.Close)
	hook, err := approve.NewWebhook(approve.WebhookConfig{URL: pager.URL, Secret: secret})
	require.NoError(t, err)

	e := newEnv(t, "")
	ap, err := web.NewApprover(e.handler, rules(), web.WebhookDeliver(hook))
	require.NoError(t, err)
	req := e.h.RequireWaiting(e.runID)
	require.NoError(t, ap.Request(t.Context(), req))

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 1, "one invitation per eligible approver; the subject, also eligible, is never invited")
	seen := map[string]bool{}
	for _, p := range got {
		assert.Equal(t, "invitation", p.Kind)
		require.Len(t, p.Recipients, 1)
		who := p.Recipients[0]
		seen[who] = true
		assert.Equal(t, req.ID, p.ApprovalID)
		assert.Contains(t, p.Delivery, who, "each approver's invitation is its own delivery")
		status, _, body := get(t, p.Link)
		assert.Equal(t, http.StatusOK, status, "the posted link opens the case page: %s", body)
		assert.Contains(t, body, "Ana Souza")
	}
	assert.Equal(t, map[string]bool{"secops-lead@example.com": true}, seen, "ana@example.com is the subject")
}
