package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime"
)

// op is one write handed to the writer goroutine. fn runs inside the
// batch's transaction; it records the caller's answer (a refusal such as
// ErrVersionConflict included) in err and returns an error only when the
// transaction itself failed, which fails the whole batch.
type op struct {
	ctx  context.Context
	fn   func(ctx context.Context) error
	err  error
	done chan struct{}
}

// write hands fn to the writer and waits until its batch is committed.
func (s *Store) write(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := &op{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case s.reqs <- o:
	case <-s.quit:
		return s.closed()
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stopped:
		select {
		case <-o.done:
			return o.err
		default:
			return s.closed()
		}
	}
}

func (s *Store) closed() error { return fmt.Errorf("sqlite: %s: %w", s.path, ErrClosed) }

// isClosed reports whether Close has begun.
func (s *Store) isClosed() bool {
	select {
	case <-s.quit:
		return true
	default:
		return false
	}
}

// writeLoop commits the waiting writes in batches until Close, then
// commits what is left and stops.
func (s *Store) writeLoop() {
	defer close(s.stopped)
	batch := make([]*op, 0, s.opt.MaxBatch)
	for {
		select {
		case o := <-s.reqs:
			batch = append(batch[:0], o)
			// Let the goroutines whose writes the last commit answered
			// hand in their next ones, so that they share this commit.
			runtime.Gosched()
			batch = s.fill(batch)
			s.commit(batch)
		case <-s.quit:
			for {
				batch = s.fill(batch[:0])
				if len(batch) == 0 {
					return
				}
				s.commit(batch)
			}
		}
	}
}

// fill adds the writes already waiting, up to MaxBatch, without blocking.
func (s *Store) fill(batch []*op) []*op {
	for len(batch) < s.opt.MaxBatch {
		select {
		case o := <-s.reqs:
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

// commit runs batch in one transaction. Writes whose caller gave up
// before their turn are skipped. If the transaction fails, every write in
// it fails with that error and none is applied.
func (s *Store) commit(batch []*op) {
	live := batch[:0]
	for _, o := range batch {
		if err := o.ctx.Err(); err != nil {
			o.err = err
			close(o.done)
			continue
		}
		live = append(live, o)
	}
	if len(live) == 0 {
		return
	}
	ctx := context.Background()
	fail := func(err error) {
		for _, o := range live {
			o.err = err
			close(o.done)
		}
	}
	if _, err := s.w.begin.ExecContext(ctx); err != nil {
		// A transaction left open by a failed rollback would make every
		// later BEGIN fail: end it, then report this batch's failure.
		s.rollback(ctx)
		fail(s.wrap("starting a transaction on", err))
		return
	}
	for _, o := range live {
		if err := o.fn(ctx); err != nil {
			s.rollback(ctx)
			fail(s.wrap("writing to", err))
			return
		}
	}
	if _, err := s.w.commit.ExecContext(ctx); err != nil {
		s.rollback(ctx)
		fail(s.wrap("committing to", err))
		return
	}
	for _, o := range live {
		close(o.done)
	}
	s.checkpoint(ctx)
}

// rollback ends the writer's transaction, if one is open. SQLite may have
// rolled it back already (after an I/O error, for example); then there is
// nothing to do, and the error saying so is of no interest.
func (s *Store) rollback(ctx context.Context) {
	_, _ = s.w.rollback.ExecContext(ctx)
}

// checkpointBytes is the size of the write-ahead log above which the
// writer copies the log into the database file.
const checkpointBytes = 4 << 20

// checkpoint copies the write-ahead log into the database file and
// rewinds it (PRAGMA wal_checkpoint(RESTART)) once it has grown past
// checkpointBytes. The writer does it between two transactions, so no
// other writer of this process competes for it; without the rewind,
// readers that never all pause at once would let the log grow without
// bound. A checkpoint that finds readers in the way waits for them (busy
// timeout) and, failing that, is tried again after the next commit: an
// error costs space, not data.
func (s *Store) checkpoint(ctx context.Context) {
	fi, err := os.Stat(s.path + "-wal")
	if err != nil || fi.Size() < checkpointBytes {
		return
	}
	_, _ = s.w.checkpoint.ExecContext(ctx)
}

// writeStmts are the writer's prepared statements.
type writeStmts struct {
	begin, commit, rollback, checkpoint                      *sql.Stmt
	insertRun, updateRun, updateRunAll, runVersion, putStep  *sql.Stmt
	getClaim, putClaim, pruneClaims, postVerdict, delVerdict *sql.Stmt
	putCursor, claimToken, releaseToken, pruneTokens         *sql.Stmt
}

func (w *writeStmts) prepare(ctx context.Context, c *sql.Conn) error {
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&w.begin, `BEGIN IMMEDIATE`},
		{&w.commit, `COMMIT`},
		{&w.rollback, `ROLLBACK`},
		{&w.checkpoint, `PRAGMA wal_checkpoint(RESTART)`},
		{&w.insertRun, `INSERT INTO runs (id, state, subject, created_ns, approval_status, deadline_ns, version, data, raw)
			VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (id) DO NOTHING`},
		// SQLite rewrites the entries of every index whose columns a SET
		// names, changed or not: the common update, which keeps the
		// run's subject and creation time, leaves those columns out.
		{&w.updateRun, `UPDATE runs SET state = ?, approval_status = ?, deadline_ns = ?,
			version = version + 1, data = ?, raw = ? WHERE id = ? AND version = ? AND subject = ? AND created_ns = ?`},
		{&w.updateRunAll, `UPDATE runs SET state = ?, subject = ?, created_ns = ?, approval_status = ?, deadline_ns = ?,
			version = version + 1, data = ?, raw = ? WHERE id = ? AND version = ?`},
		{&w.runVersion, `SELECT version FROM runs WHERE id = ?`},
		// An upsert keeps the row, hence its seq and its place in the
		// journal.
		{&w.putStep, `INSERT INTO steps (run_seq, step_id, data, result)
			SELECT seq, ?, ?, ? FROM runs WHERE id = ?
			ON CONFLICT (run_seq, step_id) DO UPDATE SET data = excluded.data, result = excluded.result`},
		{&w.getClaim, `SELECT owner FROM claims WHERE key = ?`},
		// Takes a free key, or one whose claim expired by now.
		{&w.putClaim, `INSERT INTO claims (key, owner, expires_ns) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_ns = excluded.expires_ns
			WHERE claims.expires_ns <= ?`},
		{&w.pruneClaims, `DELETE FROM claims WHERE expires_ns <= ?`},
		{&w.postVerdict, `INSERT INTO inbox (data) VALUES (?)`},
		{&w.delVerdict, `DELETE FROM inbox WHERE seq = ?`},
		{&w.putCursor, `INSERT INTO cursors (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`},
		// Takes a free token, or one whose link expired before now.
		{&w.claimToken, `INSERT INTO used_tokens (key, until_ns) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET until_ns = excluded.until_ns
			WHERE used_tokens.until_ns < ?`},
		{&w.releaseToken, `DELETE FROM used_tokens WHERE key = ?`},
		{&w.pruneTokens, `DELETE FROM used_tokens WHERE key IN
			(SELECT key FROM used_tokens WHERE until_ns < ? ORDER BY until_ns LIMIT ?)`},
	} {
		st, err := c.PrepareContext(ctx, p.sql)
		if err != nil {
			return err
		}
		*p.dst = st
	}
	return nil
}

func (w *writeStmts) close() error {
	return closeStmts(w.begin, w.commit, w.rollback, w.checkpoint, w.insertRun, w.updateRun, w.updateRunAll, w.runVersion, w.putStep, w.getClaim, w.putClaim, w.pruneClaims, w.postVerdict, w.delVerdict, w.putCursor, w.claimToken, w.releaseToken, w.pruneTokens)
}

func closeStmts(stmts ...*sql.Stmt) error {
	var errs []error
	for _, st := range stmts {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}
