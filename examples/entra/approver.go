package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/approve/web"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

// approvalSecrets are the keys approvals need, read from the environment by
// run; they never reach the log or an error.
type approvalSecrets struct {
	// linkKey signs the web links and forms (IAMPLAYBOOK_LINK_KEY).
	linkKey []byte
	// webhookSecret signs the webhook's POSTs (IAMPLAYBOOK_WEBHOOK_SECRET).
	webhookSecret []byte
}

// approval is what newApprover builds: the playbook's Approver and
// ApprovalRule, and the web pages to serve (nil when no approvers are
// configured).
type approval struct {
	approver playbook.Approver
	rule     playbook.VerdictEvaluator
	pages    *web.Handler
}

// approvalRules turns the approval flags into the one rule every approval
// request of this responder follows (the matrix, the break-glass guard and
// the budget name no rule, so the default applies): the --approvers are
// eligible and --quorum of them must approve; those who have not voted
// are reminded every --approval-remind; after --escalate-after the
// --escalate-to approvers are told and one of them can settle it alone;
// after --approval-timeout the request is denied and the run escalated.
func approvalRules(o options) approve.Rules {
	r := approve.Rule{
		Eligible:    o.approvers,
		Quorum:      o.quorum,
		Deadline:    o.approvalTimeout,
		RemindEvery: o.remindEvery,
	}
	if len(o.escalateTo) > 0 {
		r.Escalation = []approve.Tier{{After: o.escalateAfter, Approvers: o.escalateTo, Decisive: true}}
	}
	return approve.Rules{Default: r}
}

// newApprover builds the responder's approval channel; it is the one place
// the approver is built.
//
// Every request is announced in the log with its approval id, subject,
// risk, the decision's steps and its deadline, and how to answer it with
// the operator CLI on the same database.
//
// Without --approvers, that notice is all: nobody is invited, any operator
// may answer through the CLI (the store's verdict inbox, which the runner
// reads), and a request nobody answers expires at --approval-timeout and
// its run is escalated to people. pages is then nil.
//
// With --approvers, the web channel is wired in as well, under
// approvalRules: each eligible approver gets a personal signed link to the
// pages (served by run at --approval-base-url), on the request, on every
// reminder, and on escalation for the tier reached. The links are written
// to the log, where a host would send them by e-mail or chat instead; with
// --approval-webhook the request and its notices are also POSTed, signed,
// to that URL with their recipients, and so is each personal link (an
// "invitation" payload) for the on-call system to hand to its approver. CLI verdicts then count only from
// eligible approvers, as web ones do. store is the runner's store (the
// pages read the case from it and remember used links in it) and sink the playbook's audit trail (refused
// links are audited).
func newApprover(log *slog.Logger, o options, secrets approvalSecrets, store *sqlite.Store, sink playbook.AuditSink) (approval, error) {
	notice := approve.Notifier(func(ctx context.Context, r playbook.ApprovalRequest) error {
		steps := make([]string, 0, len(r.Decision.Steps))
		for _, s := range r.Decision.Steps {
			steps = append(steps, s.Action)
		}
		log.WarnContext(ctx, "approval required",
			"approval_id", r.ID, "subject", r.Subject.Key(), "login", r.Subject.Login, "risk", r.Risk.String(),
			"rule", r.Decision.Rule, "steps", steps, "deadline", r.Deadline, "summary_sha256", r.SummaryHash,
			"cli", fmt.Sprintf("iamplaybook --db %s approve %s --by NAME", o.db, r.ID))
		return nil
	})
	if len(o.approvers) == 0 {
		return approval{approver: notice}, nil
	}

	rules := approvalRules(o)
	if err := rules.Validate(); err != nil {
		return approval{}, fmt.Errorf("approval flags: %w", err)
	}
	if o.approvalBaseURL == "" {
		return approval{}, errors.New("approvals need --approval-base-url")
	}
	pages, err := web.New(web.Config{BaseURL: o.approvalBaseURL, Key: secrets.linkKey, Store: store, Used: store.UsedTokens(), Audit: sink, Logger: log})
	if err != nil {
		return approval{}, fmt.Errorf("--approval-base-url or IAMPLAYBOOK_LINK_KEY: %w", err)
	}
	var hook *approve.Webhook
	if o.approvalWebhook != "" {
		hook, err = approve.NewWebhook(approve.WebhookConfig{URL: o.approvalWebhook, Secret: secrets.webhookSecret, Rules: &rules})
		if err != nil {
			return approval{}, fmt.Errorf("--approval-webhook or IAMPLAYBOOK_WEBHOOK_SECRET: %w", err)
		}
	}
	links, err := web.NewApprover(pages, rules, linkDelivery(log, hook))
	if err != nil {
		return approval{}, err
	}
	channels := []playbook.Approver{notice, links}
	if hook != nil {
		channels = append(channels, hook)
	}
	return approval{approver: approve.Fanout(channels...), rule: rules, pages: pages}, nil
}

// linkDelivery writes each approver's personal link to the log and, with a
// webhook, also posts it there as an "invitation" so that an on-call or
// chat system hands it to its approver. Replace it to deliver links by
// e-mail or chat; anyone who reads the log can use a logged link.
func linkDelivery(log *slog.Logger, hook *approve.Webhook) web.Deliver {
	if hook == nil {
		return web.LogDeliver(log)
	}
	return web.Deliveries(web.LogDeliver(log), web.WebhookDeliver(hook))
}
