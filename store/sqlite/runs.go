package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// CreateRun stores r with Version 1, whatever r.Version says. It returns
// an error wrapping playbook.ErrRunExists if a run with r.ID is stored
// (leaving it unchanged), and an error naming the field if r.ID is empty.
func (s *Store) CreateRun(ctx context.Context, r playbook.Run) error {
	if r.ID == "" {
		return errors.New("sqlite: CreateRun: run id is empty")
	}
	c, err := encodeRun(r)
	if err != nil {
		return err
	}
	var exists bool
	err = s.write(ctx, func(ctx context.Context) error {
		res, err := s.w.insertRun.ExecContext(ctx, c.id, c.state, c.subject, c.createdNs, c.approvalStatus, c.deadlineNs, c.data, c.raw)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		exists = n == 0
		return err
	})
	if err != nil {
		return err
	}
	if exists {
		return fmt.Errorf("sqlite: CreateRun %q: %w", r.ID, playbook.ErrRunExists)
	}
	return nil
}

// UpdateRun replaces the stored run r.ID with r if the stored Version
// equals r.Version, and returns r with Version incremented (r's own maps
// and slices: the caller's memory, not the store's). Otherwise it stores
// nothing and returns an error wrapping playbook.ErrVersionConflict or
// playbook.ErrRunNotFound. Every field is replaced.
func (s *Store) UpdateRun(ctx context.Context, r playbook.Run) (playbook.Run, error) {
	if r.ID == "" {
		return playbook.Run{}, errors.New("sqlite: UpdateRun: run id is empty")
	}
	c, err := encodeRun(r)
	if err != nil {
		return playbook.Run{}, err
	}
	var stored int64 // the stored version when the update was refused
	var found, updated bool
	err = s.write(ctx, func(ctx context.Context) error {
		res, err := s.w.updateRun.ExecContext(ctx, c.state, c.approvalStatus, c.deadlineNs, c.data, c.raw, c.id, r.Version, c.subject, c.createdNs)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			updated, found = err == nil, err == nil
			return err
		}
		err = s.w.runVersion.QueryRowContext(ctx, c.id).Scan(&stored)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		if stored != r.Version {
			return nil
		}
		// The update moves the run's subject or creation time.
		res, err = s.w.updateRunAll.ExecContext(ctx, c.state, c.subject, c.createdNs, c.approvalStatus, c.deadlineNs, c.data, c.raw, c.id, r.Version)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		updated = n == 1
		return err
	})
	switch {
	case err != nil:
		return playbook.Run{}, err
	case !found:
		return playbook.Run{}, fmt.Errorf("sqlite: UpdateRun %q: %w", r.ID, playbook.ErrRunNotFound)
	case !updated:
		return playbook.Run{}, fmt.Errorf("sqlite: UpdateRun %q: stored version is %d, update is based on %d: %w",
			r.ID, stored, r.Version, playbook.ErrVersionConflict)
	}
	r.Version++
	return r, nil
}

// GetRun returns run id, or an error wrapping playbook.ErrRunNotFound.
func (s *Store) GetRun(ctx context.Context, id string) (playbook.Run, error) {
	if s.isClosed() {
		return playbook.Run{}, s.closed()
	}
	var version int64
	var data, raw []byte
	err := s.r.getRun.QueryRowContext(ctx, id).Scan(&version, &data, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return playbook.Run{}, fmt.Errorf("sqlite: GetRun %q: %w", id, playbook.ErrRunNotFound)
	}
	if err != nil {
		return playbook.Run{}, s.wrap("reading run "+quote(id)+" from", err)
	}
	r, err := decodeRun(id, version, data, raw)
	if err != nil {
		return playbook.Run{}, fmt.Errorf("sqlite: %s: %w", s.path, err)
	}
	return r, nil
}

// ListRuns returns the runs whose current State and Subject match f (a
// zero field matches everything), ordered by CreatedAt and then by the
// order CreateRun stored them; with f.Limit > 0 at most the f.Limit
// oldest. A negative Limit is an error. The list is one consistent
// snapshot of the store.
func (s *Store) ListRuns(ctx context.Context, f playbook.RunFilter) ([]playbook.Run, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("sqlite: ListRuns: limit %d is negative (0 means no limit)", f.Limit)
	}
	if s.isClosed() {
		return nil, s.closed()
	}
	limit := sqlLimit(f.Limit)
	var rows *sql.Rows
	var err error
	switch {
	case f.State != "" && f.Subject != "":
		rows, err = s.r.listStateSubject.QueryContext(ctx, string(f.State), f.Subject, limit)
	case f.State != "":
		rows, err = s.r.listState.QueryContext(ctx, string(f.State), limit)
	case f.Subject != "":
		rows, err = s.r.listSubject.QueryContext(ctx, f.Subject, limit)
	default:
		rows, err = s.r.listAll.QueryContext(ctx, limit)
	}
	if err != nil {
		return nil, s.wrap("listing runs of", err)
	}
	return s.scanRuns(rows)
}

// PendingApprovals returns up to limit runs (all if limit is 0) whose
// Approval.Status is ApprovalPending, earliest deadline first, ties by run
// id, read through an index: it never loads other runs. A negative limit
// is an error.
func (s *Store) PendingApprovals(ctx context.Context, limit int) ([]playbook.Run, error) {
	if limit < 0 {
		return nil, fmt.Errorf("sqlite: PendingApprovals: limit %d is negative (0 means no limit)", limit)
	}
	if s.isClosed() {
		return nil, s.closed()
	}
	rows, err := s.r.pending.QueryContext(ctx, sqlLimit(limit))
	if err != nil {
		return nil, s.wrap("listing pending approvals of", err)
	}
	return s.scanRuns(rows)
}

func (s *Store) scanRuns(rows *sql.Rows) ([]playbook.Run, error) {
	defer rows.Close()
	var out []playbook.Run
	for rows.Next() {
		var id string
		var version int64
		var data, raw []byte
		if err := rows.Scan(&id, &version, &data, &raw); err != nil {
			return nil, s.wrap("reading runs of", err)
		}
		r, err := decodeRun(id, version, data, raw)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", s.path, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("reading runs of", err)
	}
	return out, nil
}

// sqlLimit turns "0 means no limit" into SQLite's -1.
func sqlLimit(n int) int64 {
	if n == 0 {
		return -1
	}
	return int64(n)
}

// PutStep stores s as the journal entry (s.RunID, s.StepID), replacing an
// entry with the same StepID in place (it keeps the position of its first
// put) or appending a new one. It returns an error naming the field if
// RunID or StepID is empty, and an error wrapping playbook.ErrRunNotFound
// if the run has not been created.
func (s *Store) PutStep(ctx context.Context, st playbook.StepRecord) error {
	switch {
	case st.RunID == "":
		return errors.New("sqlite: PutStep: run id is empty")
	case st.StepID == "":
		return fmt.Errorf("sqlite: PutStep for run %q: step id is empty", st.RunID)
	}
	data, result, err := encodeStep(st)
	if err != nil {
		return err
	}
	var missing bool
	err = s.write(ctx, func(ctx context.Context) error {
		res, err := s.w.putStep.ExecContext(ctx, st.StepID, data, result, st.RunID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		missing = n == 0
		return err
	})
	if err != nil {
		return err
	}
	if missing {
		return fmt.Errorf("sqlite: PutStep %q of run %q: %w", st.StepID, st.RunID, playbook.ErrRunNotFound)
	}
	return nil
}

// Steps returns run runID's journal in the order its StepIDs were first
// put. A run that does not exist, or has no steps, has an empty journal:
// Steps returns nil and no error.
func (s *Store) Steps(ctx context.Context, runID string) ([]playbook.StepRecord, error) {
	if s.isClosed() {
		return nil, s.closed()
	}
	rows, err := s.r.steps.QueryContext(ctx, runID)
	if err != nil {
		return nil, s.wrap("reading the journal of run "+quote(runID)+" from", err)
	}
	defer rows.Close()
	var out []playbook.StepRecord
	for rows.Next() {
		var data, result []byte
		if err := rows.Scan(&data, &result); err != nil {
			return nil, s.wrap("reading the journal of run "+quote(runID)+" from", err)
		}
		st, err := decodeStep(runID, data, result)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", s.path, err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("reading the journal of run "+quote(runID)+" from", err)
	}
	return out, nil
}

// ClaimEvent claims event key for run runID until expires, as of now. A
// claim holds while now is before its expiry. If key is held by an
// unexpired claim (even one of runID itself), ClaimEvent leaves it
// unchanged and returns its owner and false; otherwise it takes the claim,
// replacing an expired one, and returns runID and true. Claims survive
// restarts and are shared by every process that opens the file. Every
// 64th call first deletes the claims that expired by now, so that the
// table holds about as many claims as are unexpired. Empty key or runID is
// an error. Times are compared as nanoseconds since 1970 (see Store).
func (s *Store) ClaimEvent(ctx context.Context, key, runID string, now, expires time.Time) (string, bool, error) {
	switch {
	case key == "":
		return "", false, errors.New("sqlite: ClaimEvent: event key is empty")
	case runID == "":
		return "", false, fmt.Errorf("sqlite: ClaimEvent %q: run id is empty", key)
	}
	nowNs, expNs := nanos(now), nanos(expires)
	owner, claimed := runID, true
	err := s.write(ctx, func(ctx context.Context) error {
		owner, claimed = runID, true
		s.claimsSincePrune++
		if s.claimsSincePrune >= pruneEvery {
			s.claimsSincePrune = 0
			if _, err := s.w.pruneClaims.ExecContext(ctx, nowNs); err != nil {
				return err
			}
		}
		res, err := s.w.putClaim.ExecContext(ctx, key, runID, expNs, nowNs)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		claimed = false
		return s.w.getClaim.QueryRowContext(ctx, key).Scan(&owner)
	})
	if err != nil {
		return "", false, err
	}
	return owner, claimed, nil
}

// pruneEvery is how many claims pass between two deletions of the expired
// ones.
const pruneEvery = 64

func quote(s string) string { return fmt.Sprintf("%q", s) }

// readStmts are the read pool's prepared statements.
type readStmts struct {
	getRun, steps, pending, inbox, getCursor, usedToken *sql.Stmt
	listAll, listState, listSubject, listStateSubject   *sql.Stmt
}

const runCols = `id, version, data, raw`

func (r *readStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&r.getRun, `SELECT version, data, raw FROM runs WHERE id = ?`},
		{&r.steps, `SELECT data, result FROM steps WHERE run_seq = (SELECT seq FROM runs WHERE id = ?) ORDER BY seq`},
		{&r.pending, `SELECT ` + runCols + ` FROM runs WHERE approval_status = 'pending' ORDER BY deadline_ns, id LIMIT ?`},
		{&r.inbox, `SELECT seq, data FROM inbox ORDER BY seq LIMIT ?`},
		{&r.getCursor, `SELECT value FROM cursors WHERE key = ?`},
		{&r.usedToken, `SELECT EXISTS (SELECT 1 FROM used_tokens WHERE key = ? AND until_ns >= ?)`},
		{&r.listAll, `SELECT ` + runCols + ` FROM runs ORDER BY created_ns, seq LIMIT ?`},
		{&r.listState, `SELECT ` + runCols + ` FROM runs WHERE state = ? ORDER BY created_ns, seq LIMIT ?`},
		{&r.listSubject, `SELECT ` + runCols + ` FROM runs WHERE subject = ? ORDER BY created_ns, seq LIMIT ?`},
		{&r.listStateSubject, `SELECT ` + runCols + ` FROM runs WHERE state = ? AND subject = ? ORDER BY created_ns, seq LIMIT ?`},
	} {
		st, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			return err
		}
		*p.dst = st
	}
	return nil
}

func (r *readStmts) close() error {
	return closeStmts(r.getRun, r.steps, r.pending, r.inbox, r.getCursor, r.usedToken, r.listAll, r.listState, r.listSubject, r.listStateSubject)
}
