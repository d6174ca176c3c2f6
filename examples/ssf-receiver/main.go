package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/approve/web"
	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/fake"
	"github.com/iamplaybook/iamplaybook/providers/ssf"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ssf-receiver:", err)
		stop()
		os.Exit(1)
	}
}

// EventsPath is where SETs are pushed.
const EventsPath = "/ssf/events"

// Environment variables. The secrets are read only from the environment,
// which keeps them out of the process list; none of them is ever logged.
const (
	envBearer        = "SSF_RECEIVER_BEARER"
	envDB            = "IAMPLAYBOOK_DB"
	envApprovers     = "IAMPLAYBOOK_APPROVERS"
	envLinkKey       = "IAMPLAYBOOK_LINK_KEY"
	envWebhookSecret = "IAMPLAYBOOK_WEBHOOK_SECRET"
)

// Defaults of the flags.
const (
	defaultDB             = "iamplaybook.db"
	defaultApprovalListen = "127.0.0.1:8089"
	defaultApprovalPath   = "/approve"
)

type options struct {
	listen, transmitter, audience, auditPath, bearer string
	enforce, verbose                                 bool
	approvalListen                                   string
	approval                                         approvalConfig
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func parseFlags(args []string, getenv func(string) string, out io.Writer) (options, error) {
	var (
		o                     options
		approvers, escalateTo string
	)
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	a := &o.approval
	fs := flag.NewFlagSet("ssf-receiver", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8088", "address to accept pushed SETs on")
	fs.StringVar(&o.transmitter, "transmitter", "", "the transmitter's issuer URL; its /.well-known/ssf-configuration is read (required)")
	fs.StringVar(&o.audience, "audience", "", "this receiver's audience, as the transmitter puts it in aud (required)")
	fs.StringVar(&o.auditPath, "audit", "ssf-audit.jsonl", "append the hash-chained audit trail to this JSON Lines file")
	fs.BoolVar(&o.enforce, "enforce", false, "contain for real; without it the program runs in shadow mode (dry run)")
	fs.StringVar(&o.bearer, "bearer", "", "require this bearer token on pushes (prefer the "+envBearer+" environment variable)")
	fs.BoolVar(&o.verbose, "v", false, "log diagnostics to stderr")
	fs.StringVar(&a.db, "db", "", "the SQLite file that keeps runs, waiting approvals and seen events (default $"+envDB+", else "+defaultDB+")")
	fs.StringVar(&approvers, "approvers", "", "comma-separated identities (e-mail) who may approve a privileged containment through the web pages (default $"+envApprovers+"; none: approve with the iamplaybook CLI)")
	fs.IntVar(&a.quorum, "quorum", 1, "how many distinct --approvers must approve")
	fs.DurationVar(&a.timeout, "approval-timeout", 4*time.Hour, "how long a request waits for a verdict before it is denied and its run escalated")
	fs.DurationVar(&a.remindEvery, "remind-every", 0, "remind the approvers who have not answered at this interval (0: no reminders; else at least 1m)")
	fs.StringVar(&escalateTo, "escalate-to", "", "comma-separated identities told after --escalate-after, any one of whom may then settle the request")
	fs.DurationVar(&a.escalateAfter, "escalate-after", 0, "when --escalate-to is told (default half the --approval-timeout)")
	fs.StringVar(&o.approvalListen, "approval-listen", defaultApprovalListen, "address to serve the approval pages on (with --approvers)")
	fs.StringVar(&a.baseURL, "approval-base-url", "", "the approval pages' public URL, as approvers reach them (default http://APPROVAL-LISTEN"+defaultApprovalPath+")")
	fs.StringVar(&a.webhookURL, "approval-webhook", "", "also POST every approval request and notice, signed with $"+envWebhookSecret+", to this URL")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.bearer == "" {
		o.bearer = getenv(envBearer)
	}
	if a.db == "" && !set["db"] {
		a.db = cmp.Or(getenv(envDB), defaultDB)
	}
	if approvers == "" && !set["approvers"] {
		approvers = getenv(envApprovers)
	}
	a.approvers, a.escalateTo = splitList(approvers), splitList(escalateTo)
	switch {
	case o.transmitter == "":
		return o, errors.New("--transmitter is required")
	case o.audience == "":
		return o, errors.New("--audience is required")
	case o.auditPath == "":
		return o, errors.New("--audit must name a file")
	case a.db == "":
		return o, errors.New("--db must name a file")
	case a.timeout <= 0:
		return o, errors.New("--approval-timeout must be positive")
	}
	if a.escalateAfter == 0 {
		a.escalateAfter = a.timeout / 2
	}
	if a.webhookURL != "" {
		a.webhookSecret = []byte(getenv(envWebhookSecret))
		if len(a.webhookSecret) < approve.MinWebhookSecret {
			return o, fmt.Errorf("--approval-webhook needs the shared secret in $%s, at least %d bytes", envWebhookSecret, approve.MinWebhookSecret)
		}
	}
	if !a.enabled() {
		for _, name := range []string{"quorum", "remind-every", "escalate-to", "escalate-after", "approval-listen", "approval-base-url"} {
			if set[name] {
				return o, fmt.Errorf("--%s applies to the web approvals: set --approvers (or $%s) too", name, envApprovers)
			}
		}
		return o, nil
	}
	switch {
	case a.quorum < 1 || a.quorum > len(a.approvers):
		return o, fmt.Errorf("--quorum is %d; it must be between 1 and the %d --approvers", a.quorum, len(a.approvers))
	case a.remindEvery != 0 && a.remindEvery < approve.MinRemindEvery:
		return o, fmt.Errorf("--remind-every is %s; use 0 (no reminders) or at least %s", a.remindEvery, approve.MinRemindEvery)
	case set["escalate-after"] && len(a.escalateTo) == 0:
		return o, errors.New("--escalate-after needs --escalate-to")
	case len(a.escalateTo) > 0 && (a.escalateAfter <= 0 || a.escalateAfter >= a.timeout):
		return o, fmt.Errorf("--escalate-after is %s; it must lie between 0 and the --approval-timeout (%s)", a.escalateAfter, a.timeout)
	}
	a.linkKey = []byte(getenv(envLinkKey))
	if len(a.linkKey) < web.MinKeySize {
		return o, fmt.Errorf("--approvers needs the link-signing key in $%s, at least %d bytes (for example the output of: openssl rand -hex 32)", envLinkKey, web.MinKeySize)
	}
	return o, nil
}

// run is the program: it serves until ctx ends, then drains and reports.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	o, err := parseFlags(args, getenv, stdout)
	if err != nil {
		return err
	}
	started := time.Now()
	stdout = &syncWriter{w: stdout}
	level := slog.LevelError
	if o.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	transport := &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}

	md, err := ssf.Discover(ctx, client, o.transmitter)
	if err != nil {
		return err
	}
	keys, err := ssf.NewKeySet(md.JWKSURI, ssf.KeySetOptions{Client: client})
	if err != nil {
		return err
	}
	verifier, err := ssf.NewVerifier(ssf.VerifierConfig{Issuer: md.Issuer, Audience: []string{o.audience}, Keys: keys})
	if err != nil {
		return err
	}

	trail, err := audit.OpenJSONL(o.auditPath, audit.JSONLOptions{})
	if err != nil {
		return err
	}
	defer trail.Close()

	// The store outlives the runner: it is closed after the runner has
	// stopped (deferred calls run last in, first out).
	sqlStore, err := sqlite.Open(ctx, o.approval.db, sqlite.Options{})
	if err != nil {
		return err
	}
	defer sqlStore.Close()

	idp, logins, err := seedDirectory()
	if err != nil {
		return fmt.Errorf("seeding the directory: %w", err)
	}

	// The approval pages get their own listener: the SET endpoint faces
	// the transmitter, the pages face the approvers.
	var approvalLn net.Listener
	if o.approval.enabled() {
		approvalLn, err = net.Listen("tcp", o.approvalListen)
		if err != nil {
			return fmt.Errorf("approval pages: %w", err)
		}
		defer approvalLn.Close()
		if o.approval.baseURL == "" {
			o.approval.baseURL = "http://" + approvalLn.Addr().String() + defaultApprovalPath
		}
	}
	approval, err := newApprover(o.approval, sqlStore, trail, client, stdout, logger)
	if err != nil {
		return err
	}
	pb, err := buildPlaybook(idp, !o.enforce, approval, o.approval.timeout, trail)
	if err != nil {
		return err
	}
	runner, err := playbook.NewRunner(pb, playbook.Options{Store: sqlStore, Logger: logger})
	if err != nil {
		return err
	}
	if approval.pages != nil {
		approval.pages.Bind(runner)
	}

	rcv, err := ssf.New(ssf.Config{
		Verifier: verifier,
		Handle:   runner.Handle,
		Audit:    trail,
		Bearer:   o.bearer,
		Logger:   logger,
		Resolve:  resolver(idp, logins),
		// SSF: events whose subject holds a critical member we do not
		// understand are discarded.
		CriticalSubjectMembers: md.CriticalSubjectMembers,
		OnVerification: func(_ context.Context, v ssf.Verification) {
			fmt.Fprintf(stdout, "verification event received for stream %q\n", v.StreamID)
		},
	})
	if err != nil {
		return err
	}

	var pagesPath string
	if approval.pages != nil {
		u, err := url.Parse(o.approval.baseURL) // web.New has checked it
		if err != nil {
			return err
		}
		pagesPath = cmp.Or(u.Path, "/")
	}

	runCtx, stopRunner := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRunner()
	runnerDone := make(chan error, 1)
	go func() { runnerDone <- runner.Run(runCtx) }()
	var (
		runnerStopped bool
		runnerErr     error
	)
	// stop stops the runner once, letting it drain, and returns its error.
	stop := func() error {
		if !runnerStopped {
			runnerStopped = true
			stopRunner()
			runnerErr = <-runnerDone
		}
		return runnerErr
	}
	defer stop()
	// Ready is closed only once the runner holds the database; a second
	// instance on the same file stops here, before it accepts anything.
	select {
	case <-runner.Ready():
	case err := <-runnerDone:
		runnerStopped, runnerErr = true, err
		if errors.Is(err, playbook.ErrStoreLocked) {
			return fmt.Errorf("the database %s is in use by another instance; stop it or choose another --db: %w", o.approval.db, err)
		}
		return fmt.Errorf("the runner stopped at start: %w", err)
	}

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+EventsPath, rcv)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	servers := []*http.Server{{Handler: mux}}
	if approval.pages != nil {
		pages := http.NewServeMux()
		pages.Handle(pagesPath, approval.pages)
		servers = append(servers, &http.Server{Handler: pages})
	}
	serveErr := make(chan error, len(servers))
	for i, srv := range servers {
		srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout = 10*time.Second, 30*time.Second, 30*time.Second, 2*time.Minute
		l := ln
		if i == 1 {
			l = approvalLn
		}
		go func() { serveErr <- srv.Serve(l) }()
	}

	mode := "shadow mode (dry run: nothing is contained)"
	if o.enforce {
		mode = "ENFORCING (containment acts on the directory)"
	}
	fmt.Fprintf(stdout, "runs are kept in %s\n", o.approval.db)
	if approval.pages != nil {
		fmt.Fprintf(stdout, "approval pages at %s; %d of %s must approve a privileged containment within %s\n",
			o.approval.baseURL, o.approval.quorum, strings.Join(o.approval.approvers, ", "), o.approval.timeout)
	} else {
		fmt.Fprintf(stdout, "no --approvers: privileged containments wait up to %s for a verdict through: iamplaybook --db %s approve ID --by NAME\n",
			o.approval.timeout, o.approval.db)
	}
	fmt.Fprintf(stdout, "receiving SETs from %s, %s\nlistening on http://%s%s\n", md.Issuer, mode, ln.Addr(), EventsPath)

	var failure error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		failure = fmt.Errorf("serving: %w", err)
	case err := <-runnerDone:
		runnerStopped, runnerErr = true, err
		failure = errors.New("the runner stopped unexpectedly")
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(shutCtx); err != nil {
			failure = errors.Join(failure, fmt.Errorf("stopping the server: %w", err))
		}
	}
	if err := stop(); err != nil {
		failure = errors.Join(failure, err)
	}
	if err := report(context.WithoutCancel(ctx), stdout, sqlStore, idp, started); err != nil {
		failure = errors.Join(failure, err)
	}
	if err := trail.Close(); err != nil {
		failure = errors.Join(failure, err)
	}
	if err := sqlStore.Close(); err != nil {
		failure = errors.Join(failure, err)
	}
	return failure
}

// report prints what became of each run this start touched, and how many
// approvals wait in the store.
func report(ctx context.Context, out io.Writer, st playbook.Store, idp *fake.Provider, since time.Time) error {
	all, err := st.ListRuns(ctx, playbook.RunFilter{})
	if err != nil {
		return err
	}
	var runs []playbook.Run
	for _, r := range all {
		if !r.UpdatedAt.Before(since) {
			runs = append(runs, r)
		}
	}
	fmt.Fprintf(out, "%d runs:\n", len(runs))
	for _, r := range runs {
		state := string(r.Outcome)
		if r.State == playbook.RunWaiting {
			state = "waiting-for-approval"
		} else if r.State != playbook.RunDone {
			state = string(r.State)
		}
		rule := ""
		if r.Decision != nil {
			rule = r.Decision.Rule
		}
		fmt.Fprintf(out, "  %s %s risk=%s -> %s (rule %s)\n", r.Event.Subject.ID, r.Event.Type, r.Event.Risk, state, rule)
	}
	pending, err := playbook.PendingApprovals(ctx, st, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "approvals waiting: %d\n", len(pending))
	fmt.Fprintf(out, "directory writes: %d\n", len(idp.Writes()))
	return nil
}
