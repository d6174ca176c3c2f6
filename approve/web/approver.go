package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// Invitation is one approver's personal link to one request.
type Invitation struct {
	// Approver is who the link lets answer; deliver it to them only.
	Approver string
	// URL is the signed link. It expires with the request's deadline.
	URL string
	// Request is the request to answer.
	Request playbook.ApprovalRequest
	// Kind is "" for a new request, playbook.NoticeReminder or
	// playbook.NoticeEscalation.
	Kind playbook.NoticeKind
	// Tier is the escalation tier, from 1, for an escalation.
	Tier int
	// At is when the invitation was made: the request's time for a new
	// request, the notice's otherwise.
	At time.Time
}

// Deliver hands an invitation to its approver (e-mail, chat direct
// message, pager). It must be safe for concurrent use and should not
// deliver the same invitation twice if it can tell (the runner may repeat a
// notice after a crash).
type Deliver func(ctx context.Context, inv Invitation) error

// LogDeliver returns a Deliver that writes each invitation to l at warning
// level: approval id, subject, risk, rule, deadline, approver and the link.
// A link lets its holder answer as its approver until it is used or
// expires, so a host that delivers links this way must restrict who reads
// the log; it suits a single operator or a demonstration, and pairs with a
// real channel through Deliveries. It never fails.
func LogDeliver(l *slog.Logger) Deliver {
	return func(ctx context.Context, inv Invitation) error {
		what := "approval requested"
		switch inv.Kind {
		case playbook.NoticeReminder:
			what = "approval reminder"
		case playbook.NoticeEscalation:
			what = fmt.Sprintf("approval escalated to tier %d", inv.Tier)
		}
		r := inv.Request
		l.WarnContext(ctx, what, "approval_id", r.ID, "subject", r.Subject.Key(), "login", r.Subject.Login,
			"risk", r.Risk.String(), "rule", r.Decision.Rule, "deadline", r.Deadline, "approver", inv.Approver, "url", inv.URL)
		return nil
	}
}

// Deliveries returns a Deliver that hands each invitation to every d in
// order, whatever the earlier ones returned, and joins their errors (nil
// entries are skipped), so that one channel failing does not keep an
// approver from hearing through another.
func Deliveries(ds ...Deliver) Deliver {
	ds = slices.DeleteFunc(slices.Clone(ds), func(d Deliver) bool { return d == nil })
	return func(ctx context.Context, inv Invitation) error {
		errs := make([]error, 0, len(ds))
		for _, d := range ds {
			errs = append(errs, d(ctx, inv))
		}
		return errors.Join(errs...)
	}
}

// WebhookDeliver returns a Deliver that posts each invitation, link
// included, through w as an "invitation" payload (see approve.Webhook.Invite)
// for an on-call or messaging system to hand to the approver.
func WebhookDeliver(w *approve.Webhook) Deliver {
	return func(ctx context.Context, inv Invitation) error {
		return w.Invite(ctx, inv.Approver, inv.URL, inv.Request, inv.Kind, inv.Tier, inv.At)
	}
}

// Approver is a playbook.Approver that invites, through Deliver, every
// approver the request's rule makes eligible, each with a personal signed
// link to the Handler; as a playbook.ApprovalFollower it re-invites those
// who have not voted on a reminder, and a tier's approvers on an escalation.
//
// It also applies its rules (it is a playbook.VerdictEvaluator and a
// playbook.ApprovalScheduler), so Playbook.Approver alone can carry them.
// It is safe for concurrent use.
type Approver struct {
	h       *Handler
	rules   approve.Rules
	deliver Deliver
}

var (
	_ playbook.Approver          = (*Approver)(nil)
	_ playbook.ApprovalFollower  = (*Approver)(nil)
	_ playbook.VerdictEvaluator  = (*Approver)(nil)
	_ playbook.ApprovalScheduler = (*Approver)(nil)
)

// NewApprover returns an Approver inviting people to h by deliver, under
// rules (validated here).
func NewApprover(h *Handler, rules approve.Rules, deliver Deliver) (*Approver, error) {
	if h == nil {
		return nil, errors.New("web: NewApprover needs a Handler")
	}
	if deliver == nil {
		return nil, errors.New("web: NewApprover needs a Deliver function")
	}
	if err := rules.Validate(); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	return &Approver{h: h, rules: rules, deliver: deliver}, nil
}

// Request invites everyone eligible when the request is made. It fails
// when the rule leaves nobody to ask (the request then waits for its
// deadline and is denied), and joins the failures of the deliveries.
func (a *Approver) Request(ctx context.Context, r playbook.ApprovalRequest) error {
	return a.invite(ctx, r, "", 0, nil, r.RequestedAt)
}

// Follow re-invites on reminders and escalations; a settled notice needs
// no invitation (the links stop working on their own).
func (a *Approver) Follow(ctx context.Context, n playbook.ApprovalNotice) error {
	switch n.Kind {
	case playbook.NoticeReminder, playbook.NoticeEscalation:
		return a.invite(ctx, n.Request, n.Kind, n.Tier, n.Verdicts, n.At)
	}
	return nil
}

func (a *Approver) invite(ctx context.Context, r playbook.ApprovalRequest, kind playbook.NoticeKind, tier int, voted []playbook.Verdict, at time.Time) error {
	who, err := a.rules.Recipients(r, kind, tier, voted, at)
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	if len(who) == 0 {
		if kind == "" {
			return fmt.Errorf("web: the approval rule leaves nobody to ask about %s", r.ID)
		}
		return nil
	}
	var errs []error
	for _, id := range who {
		u, err := a.h.Link(r.ID, id, r.Deadline)
		if err == nil {
			err = a.deliver(ctx, Invitation{Approver: id, URL: u, Request: r, Kind: kind, Tier: tier, At: at})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("inviting %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// Evaluate applies the rules (see approve.Rules.Evaluate).
func (a *Approver) Evaluate(req playbook.ApprovalRequest, prior []playbook.Verdict, v playbook.Verdict) (playbook.ApprovalStatus, error) {
	return a.rules.Evaluate(req, prior, v)
}

// ApprovalSchedule returns the rules' schedule (see
// approve.Rules.ApprovalSchedule).
func (a *Approver) ApprovalSchedule(d playbook.Decision) (playbook.ApprovalSchedule, error) {
	return a.rules.ApprovalSchedule(d)
}

// Validate checks the rules.
func (a *Approver) Validate() error { return a.rules.Validate() }
