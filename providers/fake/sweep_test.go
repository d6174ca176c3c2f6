package fake_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/fake"
)

func TestSweepFindings(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	p := fake.New()
	seed := []fake.User{
		{ID: "a-ok", Manager: "m", CreatedAt: now.AddDate(-1, 0, 0)},
		{ID: "b-disabled-sessions", Manager: "m", Disabled: true},
		{ID: "c-dormant-admin", Manager: "m", CreatedAt: now.AddDate(-1, 0, 0)},
		{ID: "d-active-admin", Manager: "m", CreatedAt: now.AddDate(-1, 0, 0)},
		{ID: "e-orphan"},
		{ID: "f-service", Tags: []string{"service-account"}},
		{ID: "g-disabled-no-sessions", Disabled: true},
	}
	for _, u := range seed {
		require.NoError(t, p.AddUser(u))
	}
	_, err := p.AddSession("b-disabled-sessions", playbook.Session{ID: "s1"})
	require.NoError(t, err)
	for _, id := range []string{"c-dormant-admin", "d-active-admin"} {
		_, err := p.AssignRole(id, "global-admin", "/")
		require.NoError(t, err)
	}
	require.NoError(t, p.AddSignIn("c-dormant-admin", playbook.SignIn{ID: "old", Time: now.AddDate(0, -4, 0), Success: true}))
	require.NoError(t, p.AddSignIn("c-dormant-admin", playbook.SignIn{ID: "failed", Time: now.AddDate(0, 0, -1), Success: false}))
	require.NoError(t, p.AddSignIn("d-active-admin", playbook.SignIn{ID: "recent", Time: now.AddDate(0, 0, -1), Success: true}))

	events, err := p.Sweep(fake.SweepConfig{})(t.Context(), now)
	require.NoError(t, err)
	got := map[string]playbook.EventType{}
	for _, ev := range events {
		require.NoError(t, ev.Validate(), "every finding is a valid event")
		got[ev.Subject.ID] = ev.Type
	}
	assert.Equal(t, map[string]playbook.EventType{
		"b-disabled-sessions": playbook.EventDisabledWithSessions,
		"c-dormant-admin":     playbook.EventDormantPrivileged, // a failed sign-in does not count as use
		"e-orphan":            playbook.EventOrphanedAccount,
	}, got)

	again, err := p.Sweep(fake.SweepConfig{})(t.Context(), now.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, again, len(events))
	for i := range events {
		assert.Equal(t, events[i].ID, again[i].ID, "a standing finding keeps its id within the day")
	}
	none, err := p.Sweep(fake.SweepConfig{DormantAfter: 200 * 24 * time.Hour})(t.Context(), now)
	require.NoError(t, err)
	assert.Len(t, none, 2, "a longer dormancy threshold spares the admin")
}

func TestSweepHonoursFaults(t *testing.T) {
	t.Parallel()
	p := fake.New()
	require.NoError(t, p.Fail(fake.OpSweep, playbook.ErrUnavailable, 1))
	_, err := p.Sweep(fake.SweepConfig{})(t.Context(), time.Now())
	require.ErrorIs(t, err, playbook.ErrUnavailable)
	_, err = p.Sweep(fake.SweepConfig{})(t.Context(), time.Now())
	require.NoError(t, err)
	assert.Equal(t, 2, p.CallCount(fake.OpSweep))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = p.Sweep(fake.SweepConfig{})(ctx, time.Now())
	require.ErrorIs(t, err, context.Canceled)
}
