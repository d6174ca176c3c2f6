package approve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Submitter delivers verdicts to an engine. *playbook.Runner implements it.
type Submitter interface {
	Submit(ctx context.Context, v playbook.Verdict) error
}

var _ Submitter = (*playbook.Runner)(nil)

// Answer decides a verdict for a request, for scripted approvers. It
// returns false to leave the request waiting.
type Answer func(req playbook.ApprovalRequest) (v playbook.Verdict, ok bool)

// ErrNotBound is returned when a Queue must submit a verdict before Bind
// gave it a Submitter.
var ErrNotBound = errors.New("approve: queue is not bound to a runner (call Bind)")

// Queue is an in-memory approver. It records every request; verdicts are
// given with Approve and Deny, by an Answer set with Script, or directly
// through the runner. It is safe for concurrent use; the zero value is not
// usable, call NewQueue.
type Queue struct {
	mu       sync.Mutex
	sub      Submitter
	script   Answer
	requests []playbook.ApprovalRequest
	changed  chan struct{}
}

// NewQueue returns an empty queue.
func NewQueue() *Queue { return &Queue{changed: make(chan struct{})} }

// Bind sets where verdicts go. Call it once the runner exists.
func (q *Queue) Bind(s Submitter) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sub = s
}

// Script sets an Answer applied to every request from now on, at the
// moment it arrives. A nil Answer removes the script.
func (q *Queue) Script(a Answer) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.script = a
}

// Request records r and, when a script answers it, submits the verdict.
// A repeated request with the same ID (after a crash) is recorded and
// answered once.
// A scripted verdict the runner refuses is returned as the error, so that
// the runner audits it; the request keeps waiting.
func (q *Queue) Request(ctx context.Context, r playbook.ApprovalRequest) error {
	q.mu.Lock()
	if slices.ContainsFunc(q.requests, func(x playbook.ApprovalRequest) bool { return x.ID == r.ID }) {
		q.mu.Unlock()
		return nil // already recorded (and answered, if scripted)
	}
	q.requests = append(q.requests, r)
	close(q.changed)
	q.changed = make(chan struct{})
	script, sub := q.script, q.sub
	q.mu.Unlock()
	if script == nil {
		return nil
	}
	v, ok := script(r)
	if !ok {
		return nil
	}
	if sub == nil {
		return ErrNotBound
	}
	v.ApprovalID = r.ID
	if v.Channel == "" {
		v.Channel = "script"
	}
	if err := sub.Submit(ctx, v); err != nil {
		return fmt.Errorf("approve: scripted verdict on %s refused: %w", r.ID, err)
	}
	return nil
}

// Requests returns every request received, oldest first.
func (q *Queue) Requests() []playbook.ApprovalRequest {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.requests)
}

// WaitFor blocks until at least n requests have been received, or ctx ends,
// and returns the requests received so far.
func (q *Queue) WaitFor(ctx context.Context, n int) ([]playbook.ApprovalRequest, error) {
	for {
		q.mu.Lock()
		if len(q.requests) >= n {
			out := slices.Clone(q.requests)
			q.mu.Unlock()
			return out, nil
		}
		ch := q.changed
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Approve submits an approving verdict on request id from approver, with
// channel "queue".
func (q *Queue) Approve(ctx context.Context, id, approver, reason string) error {
	return q.submit(ctx, playbook.Verdict{ApprovalID: id, Approver: approver, Approve: true, Reason: reason, Channel: "queue"})
}

// Deny submits a denying verdict on request id from approver, with channel
// "queue".
func (q *Queue) Deny(ctx context.Context, id, approver, reason string) error {
	return q.submit(ctx, playbook.Verdict{ApprovalID: id, Approver: approver, Reason: reason, Channel: "queue"})
}

func (q *Queue) submit(ctx context.Context, v playbook.Verdict) error {
	q.mu.Lock()
	sub := q.sub
	q.mu.Unlock()
	if sub == nil {
		return ErrNotBound
	}
	return sub.Submit(ctx, v)
}

// AlwaysDeny returns an Answer that denies every request as approver, with
// the given reason. Use it with Queue.Script.
func AlwaysDeny(approver, reason string) Answer {
	return func(playbook.ApprovalRequest) (playbook.Verdict, bool) {
		return playbook.Verdict{Approver: approver, Reason: reason}, true
	}
}

// AlwaysApprove returns an Answer that approves every request as approver,
// with the given reason. Use it with Queue.Script in tests and
// demonstrations; the runner still refuses it when approver is the case's
// subject or actor.
func AlwaysApprove(approver, reason string) Answer {
	return func(playbook.ApprovalRequest) (playbook.Verdict, bool) {
		return playbook.Verdict{Approver: approver, Approve: true, Reason: reason}, true
	}
}

// Notifier is an Approver that only tells people; verdicts arrive through
// another channel. It adapts a notification function (chat, e-mail, pager).
type Notifier func(ctx context.Context, r playbook.ApprovalRequest) error

// Request calls n(ctx, r).
func (n Notifier) Request(ctx context.Context, r playbook.ApprovalRequest) error { return n(ctx, r) }

// Fanout returns an Approver that notifies every approver in order, and
// reports every failure joined. A Queue can be one of them, to keep a record
// of requests alongside real channels.
//
// The result is also a playbook.ApprovalFollower: Follow forwards each
// notice (settled, reminder, escalation) to the approvers that implement
// ApprovalFollower, in order, and joins their failures the same way.
func Fanout(approvers ...playbook.Approver) playbook.Approver {
	return fanout(slices.Clone(approvers))
}

type fanout []playbook.Approver

var _ playbook.ApprovalFollower = fanout(nil)

func (f fanout) Request(ctx context.Context, r playbook.ApprovalRequest) error {
	var errs []error
	for i, a := range f {
		if err := a.Request(ctx, r); err != nil {
			errs = append(errs, fmt.Errorf("approver %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

func (f fanout) Follow(ctx context.Context, n playbook.ApprovalNotice) error {
	var errs []error
	for i, a := range f {
		if fl, ok := a.(playbook.ApprovalFollower); ok {
			if err := fl.Follow(ctx, n); err != nil {
				errs = append(errs, fmt.Errorf("approver %d: %w", i, err))
			}
		}
	}
	return errors.Join(errs...)
}
