package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/enrich"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/fake"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "start" {
		fmt.Fprintln(os.Stderr, "usage: durable start [-db FILE] [-audit FILE] [-v]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("durable start", flag.ExitOnError)
	dir := os.TempDir()
	db := fs.String("db", filepath.Join(dir, "iamplaybook-durable.db"), "the SQLite store")
	trail := fs.String("audit", filepath.Join(dir, "iamplaybook-durable.jsonl"), "the audit trail (JSON Lines, hash-chained)")
	verbose := fs.Bool("v", false, "log the runner's diagnostics to stderr")
	_ = fs.Parse(os.Args[2:])
	level := slog.LevelError
	if *verbose {
		level = slog.LevelDebug
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	_, err := start(ctx, os.Stdout, config{db: *db, audit: *trail, logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))})
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "durable:", err)
		os.Exit(1)
	}
}

type config struct {
	db, audit string
	logger    *slog.Logger
}

const (
	// cliName is how the output names the operator tool.
	cliName = "go run ./cmd/iamplaybook"
	// eventID is the identity platform's id of the risky sign-in; the
	// same id delivered on every start is de-duplicated by the store.
	eventID = "det-1002"
)

// start runs the runner on the store until the scenario's run settles
// (waiting for a verdict, or finished), prints what happened, stops the
// runner, and returns the run as it stands.
func start(ctx context.Context, out io.Writer, c config) (playbook.Run, error) {
	st, err := sqlite.Open(ctx, c.db, sqlite.Options{})
	if err != nil {
		return playbook.Run{}, err
	}
	defer st.Close()
	trail, err := audit.OpenJSONL(c.audit, audit.JSONLOptions{})
	if err != nil {
		return playbook.Run{}, err
	}
	defer trail.Close()

	idp, err := seedDirectory()
	if err != nil {
		return playbook.Run{}, fmt.Errorf("seeding the directory: %w", err)
	}
	pb, err := buildPlaybook(idp, out, c.db, trail)
	if err != nil {
		return playbook.Run{}, err
	}
	runner, err := playbook.NewRunner(pb, playbook.Options{Store: st, Logger: c.logger})
	if err != nil {
		return playbook.Run{}, err
	}
	runCtx, stopRunner := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(runCtx) }()
	stopped := false
	shutdown := func() error {
		if stopped {
			return nil
		}
		stopped = true
		stopRunner()
		return <-done
	}
	defer shutdown()

	select {
	case <-runner.Ready():
	case err := <-done:
		stopped = true
		return playbook.Run{}, err
	}
	fmt.Fprintf(out, "runner started on %s (playbook %q)\n", c.db, pb.Name)

	// The identity platform delivers its detection; on a later start it
	// delivers it again (at-least-once delivery), and the store knows it.
	runID, err := runner.Handle(ctx, riskySignIn(idp))
	switch {
	case errors.Is(err, playbook.ErrDuplicate):
		fmt.Fprintf(out, "event %s again: a duplicate of run %s, which this start resumed\n", eventID, runID)
	case err != nil:
		return playbook.Run{}, fmt.Errorf("event refused: %w", err)
	default:
		fmt.Fprintf(out, "event %s: high-risk sign-in of gus@contoso.example (Global Administrator); run %s\n", eventID, runID)
	}
	if err := settle(ctx, runner, st, runID); err != nil {
		return playbook.Run{}, err
	}
	if err := shutdown(); err != nil {
		return playbook.Run{}, fmt.Errorf("stopping the runner: %w", err)
	}
	r, err := st.GetRun(ctx, runID)
	if err != nil {
		return playbook.Run{}, err
	}
	if err := report(out, r, idp, c); err != nil {
		return r, err
	}
	if err := trail.Close(); err != nil {
		return r, err
	}
	return r, nil
}

// settle waits until the runner is idle and the run is not waiting on an
// approval whose deadline has passed: the runner fires such a deadline on
// its own goroutine soon after it starts, and WaitIdle alone may return
// before it has.
func settle(ctx context.Context, runner *playbook.Runner, st playbook.Store, runID string) error {
	for {
		if err := runner.WaitIdle(ctx); err != nil {
			return err
		}
		r, err := st.GetRun(ctx, runID)
		if err != nil {
			return err
		}
		a := r.Approval
		if r.State != playbook.RunWaiting || a == nil || a.Status != playbook.ApprovalPending || time.Now().Before(a.Request.Deadline) {
			return nil
		}
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// report prints where the run stands and what to do next.
func report(out io.Writer, r playbook.Run, idp *fake.Provider, c config) error {
	switch {
	case r.State == playbook.RunWaiting && r.Approval != nil && r.Approval.Status == playbook.ApprovalPending:
		fmt.Fprintf(out, "run %s is waiting for approval %s until %s; the runner stopped.\n",
			r.ID, r.Approval.Request.ID, r.Approval.Request.Deadline.Format(time.RFC3339))
		fmt.Fprintf(out, "Approve it while no runner runs, then start again:\n  %s --db %s approve %s --by secops-lead@contoso.example --reason \"...\"\n",
			cliName, c.db, r.ID)
		return nil
	case r.State == playbook.RunDone && r.Outcome == playbook.OutcomeContained:
		by := ""
		if a := r.Approval; a != nil && len(a.Verdicts) > 0 {
			v := a.Verdicts[len(a.Verdicts)-1]
			by = fmt.Sprintf(" after %s approved via %s", v.Approver, v.Channel)
		}
		u, _ := idp.User("u-gus")
		fmt.Fprintf(out, "run %s is contained%s: gus disabled=%t, sessions left %d, provider writes %d\n",
			r.ID, by, u.Disabled, len(idp.Sessions("u-gus")), len(idp.Writes()))
		fmt.Fprintf(out, "See its timeline with:\n  %s --db %s runs show %s --audit %s\n", cliName, c.db, r.ID, c.audit)
		return nil
	}
	fmt.Fprintf(out, "run %s is %s", r.ID, r.State)
	if r.Outcome != "" {
		fmt.Fprintf(out, " (%s)", r.Outcome)
	}
	if r.Error != "" {
		fmt.Fprintf(out, ": %s", r.Error)
	}
	fmt.Fprintln(out)
	return fmt.Errorf("run %s ended %s/%s, not waiting or contained", r.ID, r.State, r.Outcome)
}

// buildPlaybook assembles the quickstart's playbook for the privileged
// case: enrichment from the directory, the risk × privilege matrix,
// retried containment, and an approver that tells the operator how to
// answer.
func buildPlaybook(idp *fake.Provider, out io.Writer, db string, sinks ...playbook.AuditSink) (playbook.Playbook, error) {
	enricher, err := enrich.Parallel(enrich.Options{},
		enrich.Required("profile", idp.ProfileEnricher(), 5*time.Second),
		enrich.Required("roles", idp.RolesEnricher(), 5*time.Second),
		enrich.Optional("sessions", idp.SessionsEnricher(), 5*time.Second),
	)
	if err != nil {
		return playbook.Playbook{}, err
	}
	policy, err := decide.Matrix(decide.MatrixConfig{PrivilegedRoles: decide.DefaultPrivilegedRoles()})
	if err != nil {
		return playbook.Playbook{}, err
	}
	actions := map[string]playbook.Action{}
	retry := contain.RetryPolicy{InitialInterval: 200 * time.Millisecond, MaxAttempts: 4, MaxElapsed: 30 * time.Second}
	for name, a := range idp.Actions() {
		actions[name] = contain.Retry(a, retry)
	}
	// In a service this approver posts to chat or e-mail; here it prints.
	approver := playbook.ApproverFunc(func(_ context.Context, req playbook.ApprovalRequest) error {
		fmt.Fprintf(out, "approval requested: %s, deadline %s\n", req.ID, req.Deadline.Format(time.RFC3339))
		return nil
	})
	return playbook.Playbook{
		Name:            "identity-risk",
		Enricher:        enricher,
		Policy:          policy,
		Actions:         actions,
		Approver:        approver,
		ApprovalTimeout: 4 * time.Hour,
		Audit:           sinks,
	}, nil
}

func riskySignIn(idp *fake.Provider) playbook.Event {
	return playbook.Event{
		ID: eventID, Type: playbook.EventRiskySignIn, Source: "identity-protection", Risk: playbook.RiskHigh,
		Reason: "impossibleTravel", Subject: idp.Subject("u-gus"),
		Attributes: map[string]string{"ip": "198.51.100.23", "location": "Lagos, NG"},
	}
}

// seedDirectory fills the fake directory with Gus, a Global Administrator
// with a live session.
func seedDirectory() (*fake.Provider, error) {
	idp := fake.New()
	err := idp.AddUser(fake.User{ID: "u-gus", Login: "gus@contoso.example", DisplayName: "Gus Admin", Department: "IT", Manager: "it-lead@contoso.example"})
	if err != nil {
		return nil, err
	}
	_, serr := idp.AddSession("u-gus", playbook.Session{ID: "s-u-gus", Device: "laptop", IP: "203.0.113.7"})
	_, rerr := idp.AssignRole("u-gus", "global-admin", "/")
	return idp, errors.Join(serr, rerr)
}
