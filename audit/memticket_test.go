package audit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
)

func TestMemoryTicketer(t *testing.T) {
	t.Parallel()
	tk := audit.NewMemoryTicketer()
	ctx := t.Context()

	ref, err := tk.Open(ctx, audit.Ticket{RunID: "run-1", Title: "first"})
	require.NoError(t, err)
	assert.Equal(t, "TICKET-1", ref)
	again, err := tk.Open(ctx, audit.Ticket{RunID: "run-1", Title: "second"})
	require.NoError(t, err)
	assert.Equal(t, ref, again, "Open is idempotent per RunID")
	ref2, err := tk.Open(ctx, audit.Ticket{RunID: "run-2"})
	require.NoError(t, err)
	assert.Equal(t, "TICKET-2", ref2)

	require.NoError(t, tk.Update(ctx, ref, "contained"))
	require.NoError(t, tk.Update(ctx, ref, "verified"))
	require.NoError(t, tk.Close(ctx, ref, "resolved"))
	require.NoError(t, tk.Close(ctx, ref, "again"), "Close on a closed ticket")

	got := tk.Tickets()
	assert.Equal(t, []audit.TicketState{
		{Ref: "TICKET-1", Ticket: audit.Ticket{RunID: "run-1", Title: "first"}, Notes: []string{"contained", "verified"}, Closed: true, Resolution: "resolved"},
		{Ref: "TICKET-2", Ticket: audit.Ticket{RunID: "run-2"}},
	}, got)
	got[0].Notes[0] = "changed"
	st, ok := tk.Ticket(ref)
	assert.True(t, ok)
	assert.Equal(t, "contained", st.Notes[0], "snapshots share nothing")
	_, ok = tk.Ticket("TICKET-9")
	assert.False(t, ok)
}

func TestMemoryTicketerErrors(t *testing.T) {
	t.Parallel()
	tk := audit.NewMemoryTicketer()
	if err := tk.Update(t.Context(), "TICKET-9", "x"); !errors.Is(err, audit.ErrUnknownTicket) {
		t.Fatalf("Update unknown: %v", err)
	}
	if err := tk.Close(t.Context(), "nope", "x"); !errors.Is(err, audit.ErrUnknownTicket) {
		t.Fatalf("Close unknown: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := tk.Open(ctx, audit.Ticket{RunID: "r"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with cancelled ctx: %v", err)
	}
	assert.Empty(t, tk.Tickets())
}

func TestMemoryTicketerConcurrentOpen(t *testing.T) {
	t.Parallel()
	tk := audit.NewMemoryTicketer()
	var wg sync.WaitGroup
	refs := make([]string, 64)
	for i := range refs {
		wg.Go(func() {
			ref, err := tk.Open(t.Context(), audit.Ticket{RunID: fmt.Sprint("run-", i%4)})
			if err != nil {
				t.Error(err)
			}
			refs[i] = ref
			if err := tk.Update(t.Context(), ref, "n"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	assert.Len(t, tk.Tickets(), 4)
	for i := range refs {
		assert.Equal(t, refs[i%4], refs[i], "same run, same ticket")
	}
	notes := 0
	for _, st := range tk.Tickets() {
		notes += len(st.Notes)
	}
	assert.Equal(t, 64, notes)
}
