package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// PostVerdict queues v for the runner that owns the file and returns its
// sequence number; numbers increase in posting order across every process
// and are never reused. v.At must be set (when the verdict was given); a
// zero At, or an empty ApprovalID, is refused with an error wrapping
// playbook.ErrInvalidVerdict. PostVerdict does not check the approval: the
// runner does, and audits a verdict it refuses. It needs no lock and works
// while a runner holds the file.
func (s *Store) PostVerdict(ctx context.Context, v playbook.Verdict) (int64, error) {
	switch {
	case v.At.IsZero():
		return 0, fmt.Errorf("sqlite: PostVerdict for %q: %w: the time it was given (At) is not set", v.ApprovalID, playbook.ErrInvalidVerdict)
	case v.ApprovalID == "":
		return 0, fmt.Errorf("sqlite: PostVerdict: %w: the approval id is empty", playbook.ErrInvalidVerdict)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("sqlite: PostVerdict for %q: encoding: %w", v.ApprovalID, err)
	}
	var seq int64
	err = s.write(ctx, func(ctx context.Context) error {
		res, err := s.w.postVerdict.ExecContext(ctx, data)
		if err != nil {
			return err
		}
		seq, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, err
	}
	return seq, nil
}

// InboxVerdicts returns up to limit queued verdicts (all if limit is 0),
// oldest first. A negative limit is an error.
func (s *Store) InboxVerdicts(ctx context.Context, limit int) ([]playbook.InboxVerdict, error) {
	if limit < 0 {
		return nil, fmt.Errorf("sqlite: InboxVerdicts: limit %d is negative (0 means no limit)", limit)
	}
	if s.isClosed() {
		return nil, s.closed()
	}
	rows, err := s.r.inbox.QueryContext(ctx, sqlLimit(limit))
	if err != nil {
		return nil, s.wrap("reading the verdict inbox of", err)
	}
	defer rows.Close()
	var out []playbook.InboxVerdict
	for rows.Next() {
		var seq int64
		var data []byte
		if err := rows.Scan(&seq, &data); err != nil {
			return nil, s.wrap("reading the verdict inbox of", err)
		}
		iv, err := decodeVerdict(seq, data)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", s.path, err)
		}
		out = append(out, iv)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("reading the verdict inbox of", err)
	}
	return out, nil
}

// RemoveVerdict deletes queued verdict seq; removing one that is not there
// is not an error.
func (s *Store) RemoveVerdict(ctx context.Context, seq int64) error {
	return s.write(ctx, func(ctx context.Context) error {
		_, err := s.w.delVerdict.ExecContext(ctx, seq)
		return err
	})
}
