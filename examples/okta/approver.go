package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/approve/web"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

// approvalRule is the name of the approval rule the risk × privilege
// matrix puts on every decision that needs approval when approvers are
// configured.
const approvalRule = "okta-privileged"

// approvalConfig is how approvals are asked for and answered, from flags
// and the environment.
type approvalConfig struct {
	// approvers are the eligible identities; empty disables the web
	// channel (verdicts then come through the operator CLI only).
	approvers []string
	quorum    int
	timeout   time.Duration
	remind    time.Duration
	// escalateTo is the fallback tier, told after escalateAfter; one
	// approval from it settles the request.
	escalateTo    []string
	escalateAfter time.Duration
	// listen and baseURL are where the approval pages are served and the
	// public address their links point at.
	listen  string
	baseURL string
	// linkKey signs the links (IAMPLAYBOOK_LINK_KEY, decoded).
	linkKey []byte
	// webhookURL and webhookSecret, when set, post every request and
	// notice to an on-call or chat system.
	webhookURL    string
	webhookSecret []byte
	// db is the store's path, for the operator CLI hint in the log.
	db string
}

// enabled reports whether the web approval channel is on.
func (c approvalConfig) enabled() bool { return len(c.approvers) > 0 }

// rules returns the approval rules for the configured approvers.
func (c approvalConfig) rules() approve.Rules {
	r := approve.Rule{Eligible: c.approvers, Quorum: c.quorum, Deadline: c.timeout, RemindEvery: c.remind}
	if len(c.escalateTo) > 0 {
		r.Escalation = []approve.Tier{{After: c.escalateAfter, Approvers: c.escalateTo, Decisive: true}}
	}
	return approve.Rules{ByName: map[string]approve.Rule{approvalRule: r}}
}

// parseKey decodes the link-signing key: hex, or base64 after the prefix
// "base64:". The error never quotes the value.
func parseKey(name, v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, fmt.Errorf("%s is required when --approvers is set: the approval links are signed with it", name)
	}
	var key []byte
	var err error
	if b64, ok := strings.CutPrefix(v, "base64:"); ok {
		key, err = base64.StdEncoding.DecodeString(b64)
	} else {
		key, err = hex.DecodeString(v)
	}
	if err != nil {
		return nil, fmt.Errorf("%s is neither hex nor base64 with the prefix \"base64:\"", name)
	}
	if len(key) < web.MinKeySize {
		return nil, fmt.Errorf("%s holds %d bytes; it needs at least %d random bytes", name, len(key), web.MinKeySize)
	}
	return key, nil
}

// newApprover builds the responder's approver and the approval rule the
// runner applies. It is the one place approvals are wired.
//
// With approvers configured, every request invites each eligible approver
// with a personal signed link to pages (the returned handler, which the
// caller serves and binds to the runner), re-invites on reminders and
// invites the escalation tier when it is reached; the links are written to
// the log and, with a webhook, posted to it as invitations (see
// linkDelivery). Without approvers, the request is announced in the log with
// the operator CLI command that answers it, pages is nil, and the request
// waits for a verdict posted to the store's inbox until its deadline, when
// it expires and the run escalates.
//
// Either way, a configured webhook also receives every request and notice
// (signed; see approve.Webhook), and with approvers each personal link. The log never carries the signing key or
// the webhook's secret.
func newApprover(log *slog.Logger, c approvalConfig, st *sqlite.Store, trail playbook.AuditSink) (approver playbook.Approver, rule playbook.VerdictEvaluator, pages *web.Handler, err error) {
	var approvers []playbook.Approver
	var rules *approve.Rules
	var rs approve.Rules
	if c.enabled() {
		rs = c.rules()
		rules = &rs
	}
	var hook *approve.Webhook
	if c.webhookURL != "" {
		hook, err = approve.NewWebhook(approve.WebhookConfig{URL: c.webhookURL, Secret: c.webhookSecret, Rules: rules})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--approval-webhook: %w", err)
		}
	}
	if c.enabled() {
		pages, err = web.New(web.Config{BaseURL: c.baseURL, Key: c.linkKey, Store: st, Used: st.UsedTokens(), Audit: trail, Logger: log})
		if err != nil {
			return nil, nil, nil, err
		}
		links, err := web.NewApprover(pages, rs, linkDelivery(log, hook))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("approval flags: %w", err)
		}
		approvers = append(approvers, links)
		rule = rs
	} else {
		approvers = append(approvers, approve.Notifier(func(_ context.Context, r playbook.ApprovalRequest) error {
			log.Warn("approval requested",
				"approval_id", r.ID, "subject", r.Subject.Key(), "login", r.Subject.Login,
				"risk", r.Risk.String(), "rule", r.Decision.Rule, "deadline", r.Deadline,
				"summary_hash", r.SummaryHash,
				"answer_with", fmt.Sprintf("iamplaybook --db %s approve %s --by NAME", c.db, r.ID))
			return nil
		}))
	}
	if hook != nil {
		approvers = append(approvers, hook)
	}
	if len(approvers) == 1 {
		return approvers[0], rule, pages, nil
	}
	return approve.Fanout(approvers...), rule, pages, nil
}

// errNoApprovers is returned for approval flags that need --approvers.
var errNoApprovers = errors.New("--quorum, --approval-remind and --escalate-to need --approvers")

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
