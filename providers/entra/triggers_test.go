package entra_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/cursor"
	"github.com/iamplaybook/iamplaybook/providers/entra"
	"github.com/iamplaybook/iamplaybook/providers/entra/entratest"
)

// collector is an emit function that records events and can refuse one.
type collector struct {
	mu     sync.Mutex
	events []playbook.Event
	refuse func(playbook.Event) error
}

func (c *collector) emit(_ context.Context, ev playbook.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refuse != nil {
		if err := c.refuse(ev); err != nil {
			return err
		}
	}
	c.events = append(c.events, ev)
	return nil
}

func (c *collector) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.events {
		out = append(out, e.ID)
	}
	return out
}

func TestRiskDetectionPollerPagesAndDeduplicates(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		s := f.user(t, "ana@contoso.example", nil)
		base := time.Now().Add(-time.Hour)
		var want []string
		for i := range 45 {
			id := fmt.Sprintf("det-%02d", i)
			_, err := f.emu.AddRiskDetection(entratest.RiskDetection{ID: id, UserID: s.ID, RiskLevel: "high", DetectedAt: base.Add(time.Duration(i) * time.Second)})
			require.NoError(t, err)
			want = append(want, id)
		}
		cursors := &cursor.Memory{}
		p := f.c.RiskDetectionsTrigger(entra.PollOptions{Cursors: cursors, PageSize: 20})
		var got collector
		require.NoError(t, p.Poll(t.Context(), got.emit))
		assert.Equal(t, want, got.ids(), "every detection, in time order")
		pages := requestsTo(f.emu, http.MethodGet, "/identityProtection/riskDetections")
		require.Len(t, pages, 3, "45 records in pages of 20")
		assert.Contains(t, pages[0].RawQuery, "$top=20")
		assert.Contains(t, pages[1].RawQuery, "skiptoken=", "the second page comes from @odata.nextLink")

		// The next poll re-reads the boundary record ("ge") and skips it.
		require.NoError(t, p.Poll(t.Context(), got.emit))
		assert.Len(t, got.ids(), 45)

		// A new record at the same instant as the cursor is not lost.
		_, err := f.emu.AddRiskDetection(entratest.RiskDetection{ID: "det-zz", UserID: s.ID, DetectedAt: base.Add(44 * time.Second)})
		require.NoError(t, err)
		require.NoError(t, p.Poll(t.Context(), got.emit))
		assert.Equal(t, "det-zz", got.ids()[45])
		v, ok, err := cursors.Get(t.Context(), p.CursorKey())
		require.NoError(t, err)
		require.True(t, ok)
		assert.Contains(t, v, "det-zz")
	})
}

func TestPollerSkipsBadRecordsAndKeepsRefusedOnes(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		s := f.user(t, "ana@contoso.example", nil)
		base := time.Now().Add(-time.Hour)
		add := func(id string, i int) {
			_, err := f.emu.AddRiskDetection(entratest.RiskDetection{ID: id, UserID: s.ID, DetectedAt: base.Add(time.Duration(i) * time.Minute)})
			require.NoError(t, err)
		}
		add("d1", 1)
		f.emu.AddRawRiskDetection("d2", base.Add(2*time.Minute), json.RawMessage(`{"id":"d2","detectedDateTime":"`+entratest.WireTime(base.Add(2*time.Minute))+`","userId":""}`))
		add("d3", 3)
		add("d4", 4)
		var reported []error
		var mu sync.Mutex
		p := f.c.RiskDetectionsTrigger(entra.PollOptions{OnError: func(_ context.Context, err error) {
			mu.Lock()
			reported = append(reported, err)
			mu.Unlock()
		}})
		closing := errors.New("runner closing")
		got := collector{refuse: func(ev playbook.Event) error {
			if ev.ID == "d4" {
				return closing
			}
			return nil
		}}
		err := p.Poll(t.Context(), got.emit)
		require.ErrorIs(t, err, closing)
		assert.Equal(t, []string{"d1", "d3"}, got.ids(), "the bad record is skipped, the poller goes on")
		require.Len(t, reported, 1)
		assert.ErrorIs(t, reported[0], entra.ErrBadRecord)
		assert.Contains(t, reported[0].Error(), "names no userId")

		// The refused event is delivered again; the bad one is not re-read.
		got.refuse = nil
		require.NoError(t, p.Poll(t.Context(), got.emit))
		assert.Equal(t, []string{"d1", "d3", "d4"}, got.ids())
		assert.Len(t, reported, 1)

		// Duplicates and invalid events count as delivered.
		add("d5", 5)
		got.refuse = func(playbook.Event) error { return playbook.ErrDuplicate }
		require.NoError(t, p.Poll(t.Context(), got.emit))
		got.refuse = nil
		require.NoError(t, p.Poll(t.Context(), got.emit))
		assert.Equal(t, []string{"d1", "d3", "d4"}, got.ids())
	})
}

func TestPollerCursorSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		// Clients of one tenant share the Identity Protection limiter.
		limiter := entra.NewLimiter(time.Second)
		f := newFixture(t, func(c *entra.Config) { c.IdentityProtectionLimiter = limiter })
		s := f.user(t, "ana@contoso.example", nil)
		_, err := f.emu.AddRiskDetection(entratest.RiskDetection{ID: "d1", UserID: s.ID, DetectedAt: time.Now().Add(-time.Minute)})
		require.NoError(t, err)
		store1, err := cursor.OpenFile(filepath.Join(dir, "cursors.json"))
		require.NoError(t, err)
		var got collector
		require.NoError(t, f.c.RiskDetectionsTrigger(entra.PollOptions{Cursors: store1}).Poll(t.Context(), got.emit))
		assert.Equal(t, []string{"d1"}, got.ids())

		// A new process: a new client and store over the same directory.
		c2, err := entra.New(entra.Config{TenantID: f.emu.TenantID(), ClientID: testClientID, ClientSecret: testSecret,
			GraphURL: f.emu.GraphURL(), TokenURL: f.emu.TokenURL(), HTTPClient: f.emu.Client(), IdentityProtectionLimiter: limiter})
		require.NoError(t, err)
		store2, err := cursor.OpenFile(filepath.Join(dir, "cursors.json"))
		require.NoError(t, err)
		_, err = f.emu.AddRiskDetection(entratest.RiskDetection{ID: "d2", UserID: s.ID})
		require.NoError(t, err)
		var again collector
		require.NoError(t, c2.RiskDetectionsTrigger(entra.PollOptions{Cursors: store2}).Poll(t.Context(), again.emit))
		assert.Equal(t, []string{"d2"}, again.ids(), "d1 is not emitted again after the restart")
	})
}

func TestPollerRunHonoursIntervalAndRetryAfter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		s := f.user(t, "ana@contoso.example", nil)
		p := f.c.RiskDetectionsTrigger(entra.PollOptions{Interval: 10 * time.Second, OnError: func(context.Context, error) {}})
		f.emu.FailNext(entratest.Fault{PathContains: "/identityProtection/", Status: 429, RetryAfter: "30"})
		ctx, cancel := context.WithCancel(t.Context())
		var got collector
		done := make(chan error)
		start := time.Now()
		go func() { done <- p.Run(ctx, got.emit) }()
		synctest.Wait()
		_, err := f.emu.AddRiskDetection(entratest.RiskDetection{ID: "d1", UserID: s.ID})
		require.NoError(t, err)
		time.Sleep(29 * time.Second)
		synctest.Wait()
		assert.Empty(t, got.ids(), "no poll before Retry-After")
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, []string{"d1"}, got.ids())
		polls := requestsTo(f.emu, http.MethodGet, "/identityProtection/riskDetections")
		require.Len(t, polls, 2)
		assert.Equal(t, 30*time.Second, polls[1].Time.Sub(start))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		assert.Len(t, requestsTo(f.emu, http.MethodGet, "/identityProtection/riskDetections"), 3, "then every interval")
		cancel()
		assert.NoError(t, <-done)
	})
}

func TestDirectoryAuditAndRiskyUserTriggers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		admin := f.user(t, "admin@contoso.example", nil)
		ray := f.user(t, "ray@contoso.example", nil)
		_, err := f.emu.AddRoleAssignmentAudit(entratest.RoleAssignmentAudit{TargetUserID: ray.ID, RoleID: entratest.GlobalAdministrator, InitiatorUserID: admin.ID})
		require.NoError(t, err)
		_, err = f.emu.AddRoleAssignmentAudit(entratest.RoleAssignmentAudit{TargetUserID: ray.ID, RoleID: entratest.SecurityReader})
		require.NoError(t, err)
		var got collector
		require.NoError(t, f.c.DirectoryAuditTrigger(entra.PollOptions{}, false).Poll(t.Context(), got.emit))
		require.Len(t, got.events, 1, "only the privileged role")
		ev := got.events[0]
		assert.Equal(t, playbook.EventRoleAssigned, ev.Type)
		assert.Equal(t, ray.ID, ev.Subject.ID)
		assert.Equal(t, "admin@contoso.example", ev.Actor)
		assert.Equal(t, entratest.GlobalAdministrator, ev.Attributes["role"])
		var all collector
		require.NoError(t, f.c.DirectoryAuditTrigger(entra.PollOptions{}, true).Poll(t.Context(), all.emit))
		assert.Len(t, all.events, 2)

		require.NoError(t, f.emu.SetRiskyUser(entratest.RiskyUser{ID: ray.ID, RiskLevel: "high", RiskState: "atRisk"}))
		require.NoError(t, f.emu.SetRiskyUser(entratest.RiskyUser{ID: admin.ID, RiskLevel: "none", RiskState: "dismissed"}))
		var risky collector
		require.NoError(t, f.c.RiskyUsersTrigger(entra.PollOptions{}).Poll(t.Context(), risky.emit))
		require.Len(t, risky.events, 1, "a dismissed user is no signal")
		assert.Equal(t, playbook.RiskHigh, risky.events[0].Risk)
		assert.True(t, strings.HasPrefix(risky.events[0].ID, "riskyUser/"+ray.ID+"/"))
	})
}
