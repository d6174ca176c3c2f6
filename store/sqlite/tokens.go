package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Tokens is the set of approval links already used, kept in the store's
// file (table used_tokens, schema version 3) so that a link used once is
// refused as used after a restart and by every process that opens the
// file. It implements the UsedTokens interface of package approve/web:
// pass Store.UsedTokens as web.Config.Used.
//
// Keys are opaque strings chosen by the caller (approve/web uses a hash
// of the link's signature, so the file holds nothing that rebuilds a
// link). Each claim carries the time until which it holds; once that time
// is past, the key counts as free again and old claims are deleted now and
// then. Times are compared as nanoseconds since 1970 (see Store) against
// the clock of the calling goroutine.
//
// A Tokens is safe for concurrent use and lives as long as its Store:
// after Close every method returns an error wrapping ErrClosed. Errors
// never include the key.
type Tokens struct {
	s *Store
}

// UsedTokens returns the store's set of used approval links. Every call
// returns a view of the same set.
func (s *Store) UsedTokens() *Tokens { return &Tokens{s: s} }

// pruneTokensEvery is how many token claims pass between two deletions of
// expired tokens, and pruneTokensMax the most tokens one deletion removes,
// so that no claim pays for a long backlog.
const (
	pruneTokensEvery = 64
	pruneTokensMax   = 256
)

// Claim marks key used until until and reports true, or reports false and
// changes nothing when an unexpired claim already holds key. A claim whose
// until is before now (the link has expired) is taken over. Claim is
// atomic across goroutines, Store handles and processes on the same file:
// of concurrent claims of one key exactly one reports true. It goes
// through the store's single writer and returns once the claim is
// committed, as durable as Options.Durability says; a ctx done before the
// write's turn claims nothing and returns ctx.Err(), one that ends during
// the commit returns ctx.Err() and the claim may be recorded. Every 64th
// claim first deletes up to 256 expired claims. An empty key is an error.
func (t *Tokens) Claim(ctx context.Context, key string, until time.Time) (bool, error) {
	if key == "" {
		return false, errors.New("sqlite: claiming a used link token: the key is empty")
	}
	s := t.s
	nowNs, untilNs := nanos(time.Now()), nanos(until)
	claimed := false
	err := s.write(ctx, func(ctx context.Context) error {
		claimed = false
		s.tokensSincePrune++
		if s.tokensSincePrune >= pruneTokensEvery {
			s.tokensSincePrune = 0
			if _, err := s.w.pruneTokens.ExecContext(ctx, nowNs, pruneTokensMax); err != nil {
				return err
			}
		}
		res, err := s.w.claimToken.ExecContext(ctx, key, untilNs, nowNs)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		claimed = n == 1
		return err
	})
	if err != nil {
		return false, tokenErr("claiming", err)
	}
	return claimed, nil
}

// Used reports whether an unexpired claim holds key: one whose until is
// not before now. It reads through the read pool, sees every claim
// committed before it started (by any handle or process) and needs no
// lock. A done ctx returns ctx.Err().
func (t *Tokens) Used(ctx context.Context, key string) (bool, error) {
	s := t.s
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if s.isClosed() {
		return false, s.closed()
	}
	var used bool
	if err := s.r.usedToken.QueryRowContext(ctx, key, nanos(time.Now())).Scan(&used); err != nil {
		return false, s.wrap("reading a used link token from", err)
	}
	return used, nil
}

// Release deletes the claim of key, if any, so that the link can be used
// again (approve/web releases a claim whose verdict could not be
// delivered). It goes through the store's single writer like Claim, with
// the same ctx and durability rules. Releasing a key that is not claimed
// is not an error.
func (t *Tokens) Release(ctx context.Context, key string) error {
	s := t.s
	err := s.write(ctx, func(ctx context.Context) error {
		_, err := s.w.releaseToken.ExecContext(ctx, key)
		return err
	})
	return tokenErr("releasing", err)
}

// tokenErr names the operation on an error of the writer, leaving
// cancellation and ErrClosed as they are.
func tokenErr(doing string, err error) error {
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("sqlite: %s a used link token: %w", doing, err)
	}
	return err
}
