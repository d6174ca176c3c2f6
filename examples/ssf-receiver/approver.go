package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/approve/web"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

// approvalConfig is the approval setup the flags and environment give.
type approvalConfig struct {
	// approvers are the eligible approvers; empty means no web channel:
	// requests wait for a verdict through the operator CLI.
	approvers []string
	// quorum is how many of them must approve (at least 1).
	quorum int
	// timeout bounds the wait; the request is then denied and the run
	// escalated.
	timeout time.Duration
	// remindEvery reminds who has not voted; zero means no reminders.
	remindEvery time.Duration
	// escalateTo, when set, is told after escalateAfter and may then
	// settle the request alone.
	escalateTo    []string
	escalateAfter time.Duration
	// baseURL is where the approval pages are served, as people reach them.
	baseURL string
	// linkKey signs the links (IAMPLAYBOOK_LINK_KEY); never logged.
	linkKey []byte
	// webhookURL and webhookSecret (IAMPLAYBOOK_WEBHOOK_SECRET), when
	// set, also post every request and notice, signed, to an on-call or
	// chat system.
	webhookURL    string
	webhookSecret []byte
	// db is the store's file, named in the operator CLI's commands.
	db string
}

// enabled reports whether the web channel is configured.
func (c approvalConfig) enabled() bool { return len(c.approvers) > 0 }

// rules returns the approval rule every privileged case falls under.
func (c approvalConfig) rules() approve.Rules {
	r := approve.Rule{
		Eligible:    c.approvers,
		Quorum:      c.quorum,
		Deadline:    c.timeout,
		RemindEvery: c.remindEvery,
	}
	if len(c.escalateTo) > 0 {
		r.Escalation = []approve.Tier{{After: c.escalateAfter, Approvers: c.escalateTo, Decisive: true}}
	}
	return approve.Rules{Default: r}
}

// approvals is what newApprover builds: the playbook's approver and rule,
// and the approval pages (nil without approvers) to serve and bind to the
// runner.
type approvals struct {
	approver playbook.Approver
	rule     playbook.VerdictEvaluator
	pages    *web.Handler
}

// newApprover builds the responder's approval channel, the one place where
// it is made.
//
// With approvers configured, each eligible approver gets a personal signed
// link to the approval pages (printed on out; a host would e-mail or chat
// it), reminders and the escalation tier get theirs in turn, and the rule
// (eligibility, quorum, deadline) decides which verdicts count. Without
// approvers, a request is printed with the operator CLI commands that
// answer it; it waits in the store until a verdict arrives or its deadline
// passes, and then escalates.
//
// When c.webhookURL is set, every request and notice is also posted,
// signed, with approve.Webhook. Verdicts given through the CLI
// (iamplaybook approve) reach the runner through the store's inbox in both
// cases.
func newApprover(c approvalConfig, st *sqlite.Store, sink playbook.AuditSink, client *http.Client, out io.Writer, logger *slog.Logger) (approvals, error) {
	var (
		a     approvals
		chain []playbook.Approver
		rules approve.Rules
	)
	if c.enabled() {
		rules = c.rules()
		pages, err := web.New(web.Config{BaseURL: c.baseURL, Key: c.linkKey, Store: st, Used: st.UsedTokens(), Audit: sink, Logger: logger})
		if err != nil {
			return a, err
		}
		links, err := web.NewApprover(pages, rules, printLinks(out))
		if err != nil {
			return a, err
		}
		a.pages, a.rule = pages, rules
		chain = append(chain, links)
	} else {
		chain = append(chain, cliNotice(out, c.db))
	}
	if c.webhookURL != "" {
		wc := approve.WebhookConfig{URL: c.webhookURL, Secret: c.webhookSecret, Client: client}
		if c.enabled() {
			wc.Rules = &rules
		}
		hook, err := approve.NewWebhook(wc)
		if err != nil {
			return a, err
		}
		chain = append(chain, hook)
	}
	a.approver = approve.Fanout(chain...)
	return a, nil
}

// printLinks delivers the invitations by printing them, one line for the
// link's purpose and one for the link. The link lets its approver answer
// the request until its deadline: deliver it to that person only.
func printLinks(out io.Writer) web.Deliver {
	return func(_ context.Context, inv web.Invitation) error {
		what := "new request"
		switch inv.Kind {
		case playbook.NoticeReminder:
			what = "reminder"
		case playbook.NoticeEscalation:
			what = fmt.Sprintf("escalation to tier %d", inv.Tier)
		}
		_, err := fmt.Fprintf(out, "approval link for %s (%s, %s, risk %s, until %s):\n  %s\n",
			inv.Approver, what, inv.Request.Subject.Key(), inv.Request.Risk, inv.Request.Deadline.Format(time.RFC3339), inv.URL)
		return err
	}
}

// cliNotice announces a request with the operator CLI commands that answer
// it.
func cliNotice(out io.Writer, db string) approve.Notifier {
	return func(_ context.Context, r playbook.ApprovalRequest) error {
		_, err := fmt.Fprintf(out, "approval %s requested for %s (risk %s), waiting until %s; answer with\n  iamplaybook --db %s approve %s --by NAME --reason R\n  iamplaybook --db %s deny %s --by NAME --reason R\n",
			r.ID, r.Subject.Key(), r.Risk, r.Deadline.Format(time.RFC3339), db, r.ID, db, r.ID)
		return err
	}
}

// syncWriter serializes writes from the program's goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
