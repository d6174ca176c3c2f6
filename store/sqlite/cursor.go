package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/iamplaybook/iamplaybook/providers/cursor"
)

var _ cursor.Store = (*Store)(nil)

// Get returns the poller state stored under key (cursor.Store), so that a
// host keeps its triggers' cursors and its providers' idempotency records
// in the same file as its runs. It reads through the read pool, needs no
// lock and works while another process holds the runner lock. Errors name
// the key and the file; a done ctx returns ctx.Err().
func (s *Store) Get(ctx context.Context, key string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	if s.isClosed() {
		return "", false, s.closed()
	}
	var v string
	err := s.r.getCursor.QueryRowContext(ctx, key).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, s.wrap("reading poller state "+quote(key)+" from", err)
	}
	return v, true, nil
}

// Put stores value under key (cursor.Store). It goes through the store's
// single writer like every other write, so it shares a transaction with
// the writes that arrive with it and returns once that transaction is
// committed, as durable as Options.Durability says. It needs no lock and
// works while another process holds the runner lock (it then waits, up to
// Options.BusyTimeout, for that process's transaction). A ctx done before
// the write's turn stores nothing and returns ctx.Err(); one that ends
// while the commit is under way returns ctx.Err() and the value may be
// stored. Errors name the key and the file, never the value.
func (s *Store) Put(ctx context.Context, key, value string) error {
	err := s.write(ctx, func(ctx context.Context) error {
		_, err := s.w.putCursor.ExecContext(ctx, key, value)
		return err
	})
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("sqlite: storing poller state %q: %w", key, err)
	}
	return err
}
