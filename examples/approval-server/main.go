package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/approve/web"
	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/enrich"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/fake"
	"github.com/iamplaybook/iamplaybook/store"
)

// Who may approve the containment of a privileged account: the security
// lead, or the CISO once the request has waited half its time.
const (
	securityLead = "secops-lead@contoso.example"
	ciso         = "ciso@contoso.example"
	ruleName     = "privileged"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8085", "listen address of the approval pages")
	wait := flag.Duration("wait", 30*time.Minute, "how long the request waits for a verdict before it is denied")
	verbose := flag.Bool("v", false, "log the runner's diagnostics to stderr")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "approval-server:", err)
		os.Exit(1)
	}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelDebug
	}
	cfg := config{
		listener: ln, wait: *wait, out: os.Stdout,
		logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "approval-server:", err)
		os.Exit(1)
	}
}

// config is what run needs; tests fill it in themselves.
type config struct {
	// listener serves the approval pages; run closes it.
	listener net.Listener
	// wait is the approval deadline.
	wait time.Duration
	// out receives the report and the links.
	out io.Writer
	// logger receives diagnostics.
	logger *slog.Logger
	// invited, when set, also receives every invitation (tests use it to
	// follow the link).
	invited func(web.Invitation)
}

// run serves the approval pages, fires the quickstart's privileged case
// (a Global Administrator's impossible-travel sign-in), prints the link of
// each approver, and waits until the request is settled or ctx ends.
func run(ctx context.Context, cfg config) error {
	idp, err := seedDirectory()
	if err != nil {
		return fmt.Errorf("seeding the directory: %w", err)
	}
	st := store.NewMemory()
	trail := audit.NewMemory()

	// A fresh signing key per process: links die with it, which suits a
	// demonstration. A service keeps its key in a secret store.
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	base := "http://" + cfg.listener.Addr().String() + "/approve"
	pages, err := web.New(web.Config{BaseURL: base, Key: key, Store: st, Audit: trail, Logger: cfg.logger})
	if err != nil {
		return err
	}
	rules := approve.Rules{ByName: map[string]approve.Rule{
		ruleName: {
			Eligible:    []string{securityLead},
			Deadline:    cfg.wait,
			RemindEvery: max(cfg.wait/3, approve.MinRemindEvery),
			Escalation:  []approve.Tier{{After: cfg.wait / 2, Approvers: []string{ciso}, Decisive: true}},
		},
	}}
	var outMu sync.Mutex
	printf := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(cfg.out, format, args...)
	}
	links, err := web.NewApprover(pages, rules, func(ctx context.Context, inv web.Invitation) error {
		what := "approval requested"
		switch inv.Kind {
		case playbook.NoticeReminder:
			what = "reminder"
		case playbook.NoticeEscalation:
			what = fmt.Sprintf("escalation to tier %d", inv.Tier)
		}
		printf("%s for %s — open in a browser:\n  %s\n", what, inv.Approver, inv.URL)
		if cfg.invited != nil {
			cfg.invited(inv)
		}
		return nil
	})
	if err != nil {
		return err
	}
	settled := &settledSignal{ch: make(chan playbook.ApprovalNotice, 1)}

	pb, err := buildPlaybook(idp, approve.Fanout(links, settled), rules, trail)
	if err != nil {
		return err
	}
	runner, err := playbook.NewRunner(pb, playbook.Options{Store: st, Logger: cfg.logger})
	if err != nil {
		return err
	}
	pages.Bind(runner)

	mux := http.NewServeMux()
	mux.Handle("/approve", pages)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(cfg.listener) }()

	runCtx, stopRunner := context.WithCancel(context.WithoutCancel(ctx))
	ran := make(chan error, 1)
	go func() { ran <- runner.Run(runCtx) }()
	<-runner.Ready()
	defer func() {
		stopRunner()
		<-ran
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutCtx)
		<-served
	}()

	printf("iamplaybook approval server on %s\n", base)
	printf("Case: Gus Admin (Global Administrator) signed in from Lagos and Seattle within the hour.\n")
	printf("The playbook asks for approval before disabling the account; unanswered within %s, it is denied.\n\n", cfg.wait)
	id, err := runner.Handle(ctx, playbook.Event{
		ID: "det-2002", Type: playbook.EventRiskySignIn, Source: "identity-protection", Risk: playbook.RiskHigh,
		Reason: "impossibleTravel", Subject: idp.Subject("u-gus"), OccurredAt: time.Now().UTC(),
		Attributes: map[string]string{"ip": "198.51.100.23", "location": "Lagos, NG"},
	})
	if err != nil {
		return fmt.Errorf("event refused: %w", err)
	}

	select {
	case n := <-settled.ch:
		if err := runner.WaitIdle(ctx); err != nil {
			return err
		}
		r, err := st.GetRun(ctx, id)
		if err != nil {
			return err
		}
		printf("\nApproval %s.", n.Status)
		for _, v := range n.Verdicts {
			word := "denied"
			if v.Approve {
				word = "approved"
			}
			printf(" %s by %s via %s (%q).", word, v.Approver, v.Channel, v.Reason)
		}
		u, _ := idp.User("u-gus")
		printf("\nRun %s ended %s; the account is disabled: %v.\n", r.ID, r.Outcome, u.Disabled)
		return nil
	case <-ctx.Done():
		printf("\nStopped before a verdict; the request stays pending in this process's memory only.\n")
		return nil
	}
}

// settledSignal is an approver that only listens for the request's end.
type settledSignal struct{ ch chan playbook.ApprovalNotice }

func (s *settledSignal) Request(ctx context.Context, r playbook.ApprovalRequest) error { return nil }

func (s *settledSignal) Follow(ctx context.Context, n playbook.ApprovalNotice) error {
	if n.Kind == playbook.NoticeSettled {
		select {
		case s.ch <- n:
		default:
		}
	}
	return nil
}

// buildPlaybook is the quickstart's playbook with its approvals going
// through the web channel under rules.
func buildPlaybook(idp *fake.Provider, approver playbook.Approver, rules approve.Rules, trail playbook.AuditSink) (playbook.Playbook, error) {
	enricher, err := enrich.Parallel(enrich.Options{},
		enrich.Required("profile", idp.ProfileEnricher(), 5*time.Second),
		enrich.Required("roles", idp.RolesEnricher(), 5*time.Second),
		enrich.Optional("risk", idp.RiskEnricher(), 5*time.Second),
	)
	if err != nil {
		return playbook.Playbook{}, err
	}
	matrix, err := decide.Matrix(decide.MatrixConfig{PrivilegedRoles: decide.DefaultPrivilegedRoles(), Approval: ruleName})
	if err != nil {
		return playbook.Playbook{}, err
	}
	actions := map[string]playbook.Action{}
	for name, a := range idp.Actions() {
		actions[name] = contain.Retry(a, contain.RetryPolicy{})
	}
	return playbook.Playbook{
		Name:         "identity-risk",
		Enricher:     enricher,
		Policy:       matrix,
		Actions:      actions,
		Approver:     approver,
		ApprovalRule: rules,
		Audit:        []playbook.AuditSink{trail},
	}, nil
}

func seedDirectory() (*fake.Provider, error) {
	idp := fake.New()
	err := errors.Join(
		idp.AddUser(fake.User{ID: "u-gus", Login: "gus@contoso.example", DisplayName: "Gus Admin", Department: "IT", Manager: "it-lead@contoso.example"}),
		idp.AddUser(fake.User{ID: "u-lead", Login: securityLead, DisplayName: "SecOps Lead", Department: "Security"}),
	)
	if err != nil {
		return nil, err
	}
	if _, err := idp.AssignRole("u-gus", "global-admin", "/"); err != nil {
		return nil, err
	}
	_, err = idp.AddSession("u-gus", playbook.Session{ID: "s-gus", Device: "laptop", IP: "203.0.113.7"})
	return idp, err
}
