package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/enrich"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/fake"
	"github.com/iamplaybook/iamplaybook/store"
)

func main() {
	auditPath := flag.String("audit", "", "write the audit trail to this JSON Lines file (default: a new temporary file)")
	verbose := flag.Bool("v", false, "log the runner's diagnostics to stderr")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *auditPath, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// scenario is one event and what must become of it.
type scenario struct {
	title string
	event playbook.Event
	// setup prepares the provider (faults) before the event fires.
	setup func(idp *fake.Provider) error
	// want is the expected outcome; "" means waiting for approval.
	want playbook.Outcome
}

const (
	securityLead = "secops-lead@contoso.example"
	budgetMax    = 6
)

func run(ctx context.Context, out io.Writer, auditPath string, verbose bool) error {
	if auditPath == "" {
		dir, err := os.MkdirTemp("", "iamplaybook-quickstart-")
		if err != nil {
			return err
		}
		auditPath = filepath.Join(dir, "audit.jsonl")
	}
	level := slog.LevelError
	if verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	idp, err := seedDirectory()
	if err != nil {
		return fmt.Errorf("seeding the directory: %w", err)
	}

	// The evidence trail: a hash-chained JSON Lines file (fsync per group
	// commit), plus an in-memory copy this program reads to print results.
	trail, err := audit.OpenJSONL(auditPath, audit.JSONLOptions{})
	if err != nil {
		return err
	}
	defer trail.Close()
	seen := audit.NewMemory()

	pb, approvals, err := buildPlaybook(idp, trail, seen)
	if err != nil {
		return err
	}
	st := store.NewMemory()
	runner, err := playbook.NewRunner(pb, playbook.Options{Store: st, Logger: logger})
	if err != nil {
		return err
	}
	approvals.Bind(runner)

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(runCtx) }()
	stopped := false
	shutdown := func() error {
		if stopped {
			return nil
		}
		stopped = true
		stop()
		return <-done // the runner drains in-flight runs before returning
	}
	defer shutdown()

	fmt.Fprintf(out, "iamplaybook quickstart: playbook %q on the in-memory provider\n\n", pb.Name)
	var failures []string
	n := 0
	check := func(title string, runID string, want playbook.Outcome) {
		n++
		r, err := st.GetRun(ctx, runID)
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v", title, err))
			return
		}
		printRun(out, n, title, r, seen.Filter(func(rec audit.Record) bool { return rec.RunID == runID }))
		got := r.Outcome
		if r.State == playbook.RunWaiting {
			got = ""
		}
		if got != want || (want != "" && r.State != playbook.RunDone) {
			failures = append(failures, fmt.Sprintf("%s: got %s/%q, want %q", title, r.State, r.Outcome, orWaiting(want)))
		}
	}

	for _, sc := range scenarios(idp) {
		if sc.setup != nil {
			if err := sc.setup(idp); err != nil {
				return err
			}
		}
		id, err := runner.Handle(ctx, sc.event)
		if err != nil {
			return fmt.Errorf("%s: event refused: %w", sc.title, err)
		}
		if err := runner.WaitIdle(ctx); err != nil {
			return err
		}
		check(sc.title, id, sc.want)
		if sc.event.Subject.ID == "u-tia" {
			tries := 0
			for _, c := range idp.Calls() {
				if c.Op == playbook.ActionDisableUser && c.Subject.ID == "u-tia" {
					tries++
				}
			}
			fmt.Fprintf(out, "      provider: disable-user called %d times (throttled twice; each retry waited for Retry-After)\n", tries)
			if tries != 3 {
				failures = append(failures, fmt.Sprintf("%s: disable-user called %d times, want 3", sc.title, tries))
			}
		}
	}

	// A hygiene sweep: a leaver's account was disabled but still holds a
	// session. In a service, a playbook.Schedule trigger runs the sweep
	// every few hours; here it runs once.
	findings, err := idp.Sweep(fake.SweepConfig{})(ctx, time.Now())
	if err != nil {
		return fmt.Errorf("hygiene sweep: %w", err)
	}
	if len(findings) != 1 {
		failures = append(failures, fmt.Sprintf("hygiene sweep: %d findings, want 1", len(findings)))
	}
	for _, ev := range findings {
		id, err := runner.Handle(ctx, ev)
		if err != nil {
			return fmt.Errorf("hygiene finding refused: %w", err)
		}
		if err := runner.WaitIdle(ctx); err != nil {
			return err
		}
		check("Hygiene: disabled account, live session", id, playbook.OutcomeContained)
		if n := len(idp.Sessions(ev.Subject.ID)); n != 0 {
			failures = append(failures, fmt.Sprintf("hygiene: %s still holds %d sessions", ev.Subject.ID, n))
		}
	}

	// A flood: six high-risk sign-ins at once. Three automatic containments
	// already happened within the hour, so the budget of six lets three
	// more through and turns the rest into approval requests.
	var flood []string
	for i := range 6 {
		ev := riskySignIn(idp, fmt.Sprintf("flood-%d", i), fmt.Sprintf("u-flood-%d", i), playbook.RiskHigh, "mass password spray")
		id, err := runner.Handle(ctx, ev)
		if err != nil {
			return fmt.Errorf("flood: event refused: %w", err)
		}
		flood = append(flood, id)
	}
	if err := runner.WaitIdle(ctx); err != nil {
		return err
	}
	var contained, waiting int
	for _, id := range flood {
		r, err := st.GetRun(ctx, id)
		if err != nil {
			return err
		}
		switch {
		case r.State == playbook.RunDone && r.Outcome == playbook.OutcomeContained:
			contained++
		case r.State == playbook.RunWaiting:
			waiting++
		default:
			failures = append(failures, fmt.Sprintf("flood run %s: %s/%q, want contained or waiting", id, r.State, r.Outcome))
		}
	}
	n++
	fmt.Fprintf(out, "%2d. %-44s %d contained, %d waiting for approval (budget: %d automatic containments per hour)\n",
		n, "Flood of 6 high-risk sign-ins", contained, waiting, budgetMax)
	if contained != 3 || waiting != 3 {
		failures = append(failures, fmt.Sprintf("flood: %d contained and %d waiting, want 3 and 3", contained, waiting))
	}

	if err := shutdown(); err != nil {
		failures = append(failures, "runner: "+err.Error())
	}
	if err := trail.Close(); err != nil {
		return err
	}
	report, verr := verifyFile(auditPath)
	fmt.Fprintln(out)
	if verr != nil {
		failures = append(failures, "audit trail: "+verr.Error())
		fmt.Fprintf(out, "Audit trail %s: NOT VERIFIED: %v\n", auditPath, verr)
	} else {
		fmt.Fprintf(out, "Audit trail %s: %d records, hash chain verified (head %s…)\n", auditPath, report.Records, report.LastHash[:16])
	}
	fmt.Fprintf(out, "Provider writes: %d; approvals requested: %d\n", len(idp.Writes()), len(approvals.Requests()))

	if len(failures) > 0 {
		fmt.Fprintln(out, "\nFAILED:")
		for _, f := range failures {
			fmt.Fprintln(out, "  -", f)
		}
		return errors.New("some runs did not end as expected")
	}
	fmt.Fprintln(out, "\nAll runs ended as expected.")
	return nil
}

// buildPlaybook assembles the playbook: enrichment from the provider, the
// risk × privilege matrix behind break-glass protection and a containment
// budget, retried containment actions, and an approval queue whose script
// stands in for the people who answer.
func buildPlaybook(idp *fake.Provider, sinks ...playbook.AuditSink) (playbook.Playbook, *approve.Queue, error) {
	// Required facts are retried on transient provider errors (reads are
	// always safe to repeat); the spec's timeout bounds all attempts.
	readRetry := contain.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaxAttempts: 3}
	enricher, err := enrich.Parallel(enrich.Options{},
		enrich.Required("profile", enrich.Retry(idp.ProfileEnricher(), readRetry), 5*time.Second),
		enrich.Required("roles", enrich.Retry(idp.RolesEnricher(), readRetry), 5*time.Second),
		enrich.Optional("groups", idp.GroupsEnricher(), 5*time.Second),
		enrich.Optional("sign-ins", idp.SignInsEnricher(10), 5*time.Second),
		enrich.Optional("sessions", idp.SessionsEnricher(), 5*time.Second),
		enrich.Optional("risk", idp.RiskEnricher(), 5*time.Second),
	)
	if err != nil {
		return playbook.Playbook{}, nil, err
	}
	matrix, err := decide.Matrix(decide.MatrixConfig{PrivilegedRoles: decide.DefaultPrivilegedRoles()})
	if err != nil {
		return playbook.Playbook{}, nil, err
	}
	// Break-glass accounts are handled by people, never by automation.
	protected, err := decide.Protect(matrix, decide.ProtectConfig{Tags: []string{fake.TagBreakGlass}, EscalateApprovals: true})
	if err != nil {
		return playbook.Playbook{}, nil, err
	}
	policy, err := decide.Budget(protected, decide.BudgetConfig{Max: budgetMax, Window: time.Hour})
	if err != nil {
		return playbook.Playbook{}, nil, err
	}

	actions := map[string]playbook.Action{}
	retry := contain.RetryPolicy{InitialInterval: 200 * time.Millisecond, MaxAttempts: 4, MaxElapsed: 30 * time.Second}
	for name, a := range idp.Actions() {
		actions[name] = contain.Retry(a, retry)
	}

	approvals := approve.NewQueue()
	approvals.Script(func(req playbook.ApprovalRequest) (playbook.Verdict, bool) {
		switch req.Subject.ID {
		case "u-gus":
			return playbook.Verdict{Approver: securityLead, Approve: true, Reason: "Gus confirmed the sign-in from Lagos was not his"}, true
		case "u-ray":
			return playbook.Verdict{Approver: securityLead, Reason: "grant is part of change CHG-1042; review by hand"}, true
		}
		return playbook.Verdict{}, false // the flood's requests wait for people
	})

	return playbook.Playbook{
		Name:            "identity-risk",
		Enricher:        enricher,
		Policy:          policy,
		Actions:         actions,
		Approver:        approvals,
		ApprovalTimeout: 4 * time.Hour,
		Audit:           sinks,
		Ticketer:        audit.NewMemoryTicketer(),
	}, approvals, nil
}

func scenarios(idp *fake.Provider) []scenario {
	roleGrant := playbook.Event{
		ID: "audit-7781", Type: playbook.EventRoleAssigned, Source: "directory-audit", Risk: playbook.RiskMedium,
		Subject: idp.Subject("u-ray"),
		Actor:   "it-ops@contoso.example", Reason: "Add member to role",
		Attributes: map[string]string{"role": "Global Administrator"},
	}
	return []scenario{
		{title: "Risky sign-in, standard user", want: playbook.OutcomeContained,
			event: riskySignIn(idp, "det-1001", "u-ana", playbook.RiskHigh, "unfamiliarFeatures")},
		{title: "Risky sign-in, Global Administrator", want: playbook.OutcomeContained,
			event: riskySignIn(idp, "det-1002", "u-gus", playbook.RiskHigh, "impossibleTravel")},
		{title: "Medium-risk sign-in", want: playbook.OutcomeMonitoring,
			event: riskySignIn(idp, "det-1003", "u-mia", playbook.RiskMedium, "anonymizedIPAddress")},
		{title: "Low-risk sign-in", want: playbook.OutcomeLogged,
			event: riskySignIn(idp, "det-1004", "u-leo", playbook.RiskLow, "unfamiliarFeatures")},
		{title: "Privileged role assignment", want: playbook.OutcomeEscalated, event: roleGrant},
		{title: "Risky sign-in, throttled provider", want: playbook.OutcomeContained,
			event: riskySignIn(idp, "det-1005", "u-tia", playbook.RiskHigh, "leakedCredentials"),
			setup: func(idp *fake.Provider) error { return idp.Throttle(playbook.ActionDisableUser, time.Second, 2) }},
		{title: "Risky sign-in, break-glass account", want: playbook.OutcomeEscalated,
			event: riskySignIn(idp, "det-1006", "u-breakglass", playbook.RiskHigh, "unfamiliarFeatures")},
	}
}

func riskySignIn(idp *fake.Provider, id, user string, risk playbook.RiskLevel, reason string) playbook.Event {
	return playbook.Event{
		ID: id, Type: playbook.EventRiskySignIn, Source: "identity-protection", Risk: risk, Reason: reason,
		Subject:    idp.Subject(user),
		OccurredAt: time.Now().UTC(),
		Attributes: map[string]string{"ip": "198.51.100.23", "location": "Lagos, NG"},
	}
}

// seedDirectory fills the fake directory with the scenarios' people.
func seedDirectory() (*fake.Provider, error) {
	idp := fake.New()
	users := []fake.User{
		{ID: "u-ana", Login: "ana@contoso.example", DisplayName: "Ana Souza", Department: "Sales"},
		{ID: "u-gus", Login: "gus@contoso.example", DisplayName: "Gus Admin", Department: "IT", Tags: []string{"executive"}},
		{ID: "u-mia", Login: "mia@contoso.example", DisplayName: "Mia Chen", Department: "Finance"},
		{ID: "u-leo", Login: "leo@contoso.example", DisplayName: "Leo Marsh", Department: "Support"},
		{ID: "u-ray", Login: "ray@contoso.example", DisplayName: "Ray Ortiz", Department: "IT"},
		{ID: "u-tia", Login: "tia@contoso.example", DisplayName: "Tia Novak", Department: "Legal"},
		{ID: "u-breakglass", Login: "breakglass@contoso.example", DisplayName: "Emergency Access", Tags: []string{fake.TagBreakGlass, "service-account"}},
		{ID: "u-leaver", Login: "sam@contoso.example", DisplayName: "Sam Leaver", Department: "Sales", Disabled: true},
	}
	for i := range 6 {
		users = append(users, fake.User{ID: fmt.Sprintf("u-flood-%d", i), Login: fmt.Sprintf("staff%d@contoso.example", i), DisplayName: fmt.Sprintf("Staff %d", i)})
	}
	for i := range users {
		users[i].Manager = "it-lead@contoso.example" // nobody is orphaned here
	}
	var errs []error
	for _, u := range users {
		errs = append(errs, idp.AddUser(u))
		_, err := idp.AddSession(u.ID, playbook.Session{ID: "s-" + u.ID, Device: "laptop", IP: "203.0.113.7"})
		errs = append(errs, err)
	}
	for _, id := range []string{"u-gus", "u-ray", "u-breakglass"} {
		_, err := idp.AssignRole(id, "global-admin", "/")
		errs = append(errs, err)
	}
	return idp, errors.Join(errs...)
}

func printRun(out io.Writer, n int, title string, r playbook.Run, recs []audit.Record) {
	who := r.Event.Subject.Login
	if who == "" {
		who = r.Event.Subject.ID
	}
	state := string(r.Outcome)
	if r.State == playbook.RunWaiting {
		state = "waiting for approval"
	}
	rule := ""
	if r.Decision != nil {
		rule = r.Decision.Rule
	}
	fmt.Fprintf(out, "%2d. %-44s %-28s %-10s rule %s\n", n, title, who, state, rule)
	if r.Approval != nil {
		for _, v := range r.Approval.Verdicts {
			verdict := "denied"
			if v.Approve {
				verdict = "approved"
			}
			fmt.Fprintf(out, "      approval: %s by %s (%s)\n", verdict, v.Approver, v.Reason)
		}
	}
	var steps []string
	for _, rec := range recs {
		if rec.Type == audit.TypeActionResult {
			steps = append(steps, rec.Action+": "+rec.Outcome)
		}
	}
	if len(steps) > 0 {
		fmt.Fprintf(out, "      steps: %s\n", strings.Join(steps, ", "))
	}
	if i := slices.IndexFunc(recs, func(rec audit.Record) bool { return rec.Type == audit.TypeRunResolved }); i >= 0 {
		if reason, _ := recs[i].Data["reason"].(string); reason != "" && r.Outcome != playbook.OutcomeContained {
			fmt.Fprintf(out, "      why: %s\n", reason)
		}
	}
}

func orWaiting(o playbook.Outcome) string {
	if o == "" {
		return "waiting for approval"
	}
	return string(o)
}

func verifyFile(path string) (audit.VerifyReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return audit.VerifyReport{}, err
	}
	defer f.Close()
	return audit.Verify(f, audit.VerifyOptions{})
}
