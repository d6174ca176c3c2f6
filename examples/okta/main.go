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
	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/enrich"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/okta"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "okta responder:", err)
		os.Exit(1)
	}
}

// options are the responder's flags.
type options struct {
	enforce    bool
	auditPath  string
	listen     string
	hookPath   string
	interval   time.Duration
	since      time.Duration
	privGroups []string
	approval   approvalConfig
}

// defaultDB is the store's file when neither --db nor IAMPLAYBOOK_DB names
// one.
const defaultDB = "iamplaybook.db"

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseFlags reads the flags and the settings that come from the
// environment (IAMPLAYBOOK_DB, IAMPLAYBOOK_LINK_KEY,
// IAMPLAYBOOK_WEBHOOK_SECRET) and checks them all, so that a
// misconfiguration is reported before anything is opened.
func parseFlags(args []string, env func(string) string, out io.Writer) (options, error) {
	var o options
	a := &o.approval
	var groups, approvers, escalateTo string
	fs := flag.NewFlagSet("okta", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.BoolVar(&o.enforce, "enforce", false, "contain for real; without it the responder runs in shadow (dry-run) mode")
	fs.StringVar(&a.db, "db", cmp.Or(env("IAMPLAYBOOK_DB"), defaultDB), "the SQLite store of runs and approvals (env IAMPLAYBOOK_DB)")
	fs.StringVar(&o.auditPath, "audit", "okta-audit.jsonl", "the JSON Lines audit trail")
	fs.StringVar(&o.listen, "listen", "", "serve the Event Hook receiver at this address (empty: no receiver)")
	fs.StringVar(&o.hookPath, "hook-path", "/okta/event-hook", "the Event Hook receiver's path")
	fs.DurationVar(&o.interval, "poll-interval", okta.DefaultPollInterval, "the System Log poll interval")
	fs.DurationVar(&o.since, "since", 0, "on first start, read the System Log from this long ago")
	fs.StringVar(&groups, "privileged-groups", "", "comma-separated group ids or names whose members are privileged")
	fs.StringVar(&approvers, "approvers", "", "comma-separated identities (e-mail or login) who may approve containment; enables the web approval pages")
	fs.IntVar(&a.quorum, "quorum", 1, "how many distinct approvers must approve")
	fs.DurationVar(&a.timeout, "approval-timeout", playbook.DefaultApprovalTimeout, "how long a request waits for a verdict before it expires and the run escalates")
	fs.DurationVar(&a.remind, "approval-remind", 0, "remind approvers who have not answered at this interval (0: never; at least 1m)")
	fs.StringVar(&escalateTo, "escalate-to", "", "comma-separated fallback approvers told after --escalate-after; one approval from them settles the request")
	fs.DurationVar(&a.escalateAfter, "escalate-after", 0, "when the --escalate-to tier is told (default: half of --approval-timeout)")
	fs.StringVar(&a.listen, "approval-listen", "127.0.0.1:8085", "serve the approval pages at this address (with --approvers)")
	fs.StringVar(&a.baseURL, "approval-base-url", "", "the public URL of the approval pages, e.g. https://iam.example.com/approve (default: http://ADDR/approve on --approval-listen)")
	fs.StringVar(&a.webhookURL, "approval-webhook", "", "also POST every approval request and notice, signed, to this URL (needs IAMPLAYBOOK_WEBHOOK_SECRET)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.interval <= 0 || o.since < 0 {
		return o, errors.New("--poll-interval must be positive and --since not negative")
	}
	if !strings.HasPrefix(o.hookPath, "/") {
		return o, errors.New("--hook-path must start with /")
	}
	if strings.TrimSpace(a.db) == "" {
		return o, errors.New("--db must name a file (or leave it out for " + defaultDB + ")")
	}
	o.privGroups = splitList(groups)
	a.approvers, a.escalateTo = splitList(approvers), splitList(escalateTo)
	if a.timeout <= 0 {
		return o, errors.New("--approval-timeout must be positive")
	}
	if a.escalateAfter != 0 && len(a.escalateTo) == 0 {
		return o, errors.New("--escalate-after needs --escalate-to")
	}
	if a.escalateAfter == 0 {
		a.escalateAfter = a.timeout / 2
	}
	if a.webhookURL != "" {
		// Checked here so that a typo fails before anything is opened;
		// the URL is not quoted (it may carry a token).
		if u, err := url.Parse(a.webhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, errors.New("--approval-webhook must be an absolute http or https URL")
		}
		a.webhookSecret = []byte(env("IAMPLAYBOOK_WEBHOOK_SECRET"))
		if len(a.webhookSecret) < approve.MinWebhookSecret {
			return o, fmt.Errorf("IAMPLAYBOOK_WEBHOOK_SECRET must hold at least %d bytes with --approval-webhook: the receiver checks the signature with it", approve.MinWebhookSecret)
		}
	}
	if !a.enabled() {
		if a.quorum != 1 || a.remind != 0 || len(a.escalateTo) > 0 {
			return o, errNoApprovers
		}
		return o, nil
	}
	if a.quorum < 1 || a.quorum > len(a.approvers) {
		return o, fmt.Errorf("--quorum is %d; it must be between 1 and the %d --approvers", a.quorum, len(a.approvers))
	}
	if a.listen == "" {
		return o, errors.New("--approval-listen is required with --approvers: approvers answer on its pages")
	}
	if a.baseURL != "" {
		u, err := url.Parse(a.baseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return o, errors.New("--approval-base-url must be an absolute http or https URL without query or fragment")
		}
	}
	if err := a.rules().Validate(); err != nil {
		return o, fmt.Errorf("approval flags: %w", err)
	}
	key, err := parseKey("IAMPLAYBOOK_LINK_KEY", env("IAMPLAYBOOK_LINK_KEY"))
	if err != nil {
		return o, err
	}
	a.linkKey = key
	return o, nil
}

// clientConfig reads the Okta credentials from the environment.
func clientConfig(env func(string) string) (okta.Config, error) {
	cfg := okta.Config{OrgURL: env("OKTA_ORG_URL"), APIToken: env("OKTA_API_TOKEN")}
	if cfg.OrgURL == "" {
		return cfg, errors.New("OKTA_ORG_URL is required")
	}
	id, keyFile := env("OKTA_CLIENT_ID"), env("OKTA_PRIVATE_KEY_FILE")
	switch {
	case cfg.APIToken != "" && (id != "" || keyFile != ""):
		return cfg, errors.New("set OKTA_API_TOKEN or OKTA_CLIENT_ID with OKTA_PRIVATE_KEY_FILE, not both")
	case cfg.APIToken != "":
		return cfg, nil
	case id == "" || keyFile == "":
		return cfg, errors.New("set OKTA_API_TOKEN, or OKTA_CLIENT_ID and OKTA_PRIVATE_KEY_FILE")
	}
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		return cfg, fmt.Errorf("OKTA_PRIVATE_KEY_FILE: %w", err)
	}
	key, err := okta.ParsePrivateKey(pemBytes)
	if err != nil {
		return cfg, fmt.Errorf("OKTA_PRIVATE_KEY_FILE: %w", err)
	}
	cfg.OAuth = &okta.OAuthConfig{ClientID: id, Key: key, KeyID: env("OKTA_KEY_ID")}
	return cfg, nil
}

// run is the responder: it runs until ctx ends, then drains the runs it
// accepted and returns. A second responder on the same --db fails at once
// with an error wrapping playbook.ErrStoreLocked, before it reads Okta or
// opens the audit trail or a port.
func run(ctx context.Context, args []string, env func(string) string, stdout io.Writer) error {
	o, err := parseFlags(args, env, stdout)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, err := clientConfig(env)
	if err != nil {
		return err
	}
	secret := env("OKTA_EVENT_HOOK_SECRET")
	if o.listen != "" && secret == "" {
		return errors.New("OKTA_EVENT_HOOK_SECRET is required with --listen: deliveries must be authenticated")
	}
	client, err := okta.New(cfg)
	if err != nil {
		return err
	}

	db := o.approval.db
	st, err := sqlite.Open(ctx, db, sqlite.Options{})
	if err != nil {
		return fmt.Errorf("--db: %w", err)
	}
	defer st.Close()
	// The runner takes the store's lock when it starts; checking it now
	// keeps a second responder away from Okta and the trail.
	owner := ownerName()
	unlock, err := st.Lock(ctx, owner)
	if err != nil {
		return fmt.Errorf("--db %s is in use by another responder (stop it, or give each responder its own --db): %w", db, err)
	}
	if err := unlock(); err != nil {
		return fmt.Errorf("--db %s: releasing the lock check: %w", db, err)
	}

	// Fail fast on refused credentials rather than log poll errors forever.
	if _, err := client.Logs(ctx, okta.LogQuery{Limit: 1, Since: time.Now().Add(-time.Minute), Until: time.Now().Add(time.Minute)}); err != nil {
		return fmt.Errorf("reading the System Log (needs okta.logs.read): %w", err)
	}
	// The System Log cursor and the actions' idempotency records live in
	// the run store: one file to keep, and a restart resumes the poller
	// where the last process stopped.
	idp, err := okta.NewProvider(client, okta.ProviderConfig{PrivilegedGroups: o.privGroups, Store: st})
	if err != nil {
		return err
	}
	trail, err := audit.OpenJSONL(o.auditPath, audit.JSONLOptions{})
	if err != nil {
		return err
	}
	defer trail.Close()

	poller, err := idp.Poller(okta.PollerConfig{Store: st, Since: time.Now().Add(-o.since), Interval: o.interval, Logger: log})
	if err != nil {
		return err
	}
	triggers := []playbook.Trigger{poller}
	var hook *okta.HookReceiver
	if o.listen != "" {
		hook, err = idp.HookReceiver(okta.HookConfig{Secret: secret, Logger: log})
		if err != nil {
			return err
		}
		triggers = append(triggers, hook)
	}

	// Listen before building the approver: the pages' default address is
	// the listener's.
	var servers []*server
	defer func() {
		for _, s := range servers {
			s.close()
		}
	}()
	if hook != nil {
		s, err := listen("--listen", o.listen)
		if err != nil {
			return err
		}
		servers = append(servers, s)
		s.handler = exactPath(o.hookPath, hook)
		s.announce = func() {
			log.Info("event hook receiver listening", "url", "http://"+s.ln.Addr().String()+o.hookPath)
		}
	}
	var pagesSrv *server
	var pagesPath string
	if o.approval.enabled() {
		s, err := listen("--approval-listen", o.approval.listen)
		if err != nil {
			return err
		}
		servers = append(servers, s)
		pagesSrv = s
		if o.approval.baseURL == "" {
			o.approval.baseURL = "http://" + s.ln.Addr().String() + "/approve"
		}
		u, err := url.Parse(o.approval.baseURL)
		if err != nil {
			return fmt.Errorf("--approval-base-url: %w", err)
		}
		pagesPath = cmp.Or(u.Path, "/")
		s.announce = func() {
			log.Info("approval pages listening", "addr", s.ln.Addr().String(), "path", pagesPath, "base_url", o.approval.baseURL,
				"approvers", strings.Join(o.approval.approvers, ","), "quorum", o.approval.quorum)
		}
	}

	approver, rule, pages, err := newApprover(log, o.approval, st, trail)
	if err != nil {
		return err
	}
	if pages != nil {
		pagesSrv.handler = exactPath(pagesPath, pages)
	}
	pb, err := buildPlaybook(idp, triggers, approver, rule, o.approval.timeout, trail, !o.enforce)
	if err != nil {
		return err
	}
	runner, err := playbook.NewRunner(pb, playbook.Options{Store: st, Logger: log, Owner: owner})
	if err != nil {
		return err
	}
	if pages != nil {
		pages.Bind(runner)
	}

	mode := "shadow (dry-run: no Okta writes)"
	if o.enforce {
		mode = "enforce"
	}
	approvals := "operator CLI only (iamplaybook --db " + db + " approve ID --by NAME)"
	if o.approval.enabled() {
		approvals = "web pages and operator CLI"
	}
	log.Info("okta responder starting", "org", client.OrgURL(), "mode", mode, "db", db, "audit", o.auditPath,
		"approvals", approvals, "approval_timeout", o.approval.timeout)

	ran := make(chan error, 1)
	go func() { ran <- runner.Run(ctx) }()
	var runErr error
	select {
	case runErr = <-ran:
		// The runner did not start (another took the lock meanwhile).
		return runErr
	case <-runner.Ready():
	}
	for _, s := range servers {
		s.serve()
	}
	runErr = <-ran
	for _, s := range servers {
		if err := s.shutdown(ctx); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	if err := trail.Close(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	pending, err := st.PendingApprovals(context.WithoutCancel(ctx), 0)
	if err != nil {
		runErr = errors.Join(runErr, err)
	}
	log.Info("okta responder stopped", "pending_approvals", len(pending), "db", db)
	return runErr
}

// ownerName describes this process in the store's lock file, for the
// error a second responder gets.
func ownerName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown host"
	}
	return fmt.Sprintf("okta responder, pid %d on %s", os.Getpid(), host)
}

// exactPath serves h at path only (a 404 elsewhere). Paths come from
// flags, so they are compared, not parsed as ServeMux patterns.
func exactPath(path string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// server is one HTTP listener of the responder.
type server struct {
	ln       net.Listener
	handler  http.Handler
	announce func()
	srv      *http.Server
	served   chan error
	started  bool
}

func listen(flagName, addr string) (*server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	return &server{ln: ln, handler: http.NotFoundHandler()}, nil
}

// serve starts serving in the background.
func (s *server) serve() {
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	s.served = make(chan error, 1)
	s.started = true
	go func() { s.served <- s.srv.Serve(s.ln) }()
	if s.announce != nil {
		s.announce()
	}
}

// shutdown stops a serving server, giving requests in flight 5 seconds.
func (s *server) shutdown(ctx context.Context) error {
	if !s.started {
		return nil
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(shutCtx)
	err := <-s.served
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// close releases the listener of a server that never served.
func (s *server) close() {
	if !s.started {
		_ = s.ln.Close()
	}
}

// buildPlaybook assembles the playbook: enrichment from Okta, the risk ×
// privilege matrix, containment actions retried on throttling (honouring
// X-Rate-Limit-Reset) and transient failures, and the approver with its
// rule (nil: any admissible verdict decides) and default timeout.
func buildPlaybook(idp *okta.Provider, triggers []playbook.Trigger, approver playbook.Approver, rule playbook.VerdictEvaluator, timeout time.Duration, trail playbook.AuditSink, dryRun bool) (playbook.Playbook, error) {
	es := idp.Enrichers()
	readRetry := contain.RetryPolicy{InitialInterval: 500 * time.Millisecond, MaxAttempts: 3}
	enricher, err := enrich.Parallel(enrich.Options{},
		enrich.Required(okta.EnricherProfile, enrich.Retry(es[okta.EnricherProfile], readRetry), 30*time.Second),
		enrich.Required(okta.EnricherRoles, enrich.Retry(es[okta.EnricherRoles], readRetry), 30*time.Second),
		enrich.Optional(okta.EnricherGroups, es[okta.EnricherGroups], 30*time.Second),
		enrich.Optional(okta.EnricherSignIns, es[okta.EnricherSignIns], 30*time.Second),
		enrich.Optional(okta.EnricherRisk, es[okta.EnricherRisk], 30*time.Second),
	)
	if err != nil {
		return playbook.Playbook{}, err
	}
	// The roles enricher sets Facts.Privilege from SUPER_ADMIN and the
	// provider's privileged role list; the matrix reads it.
	var cfg decide.MatrixConfig
	if rule != nil {
		cfg.Approval = approvalRule
	}
	policy, err := decide.Matrix(cfg)
	if err != nil {
		return playbook.Playbook{}, err
	}
	retry := contain.RetryPolicy{InitialInterval: time.Second, MaxAttempts: 5, MaxElapsed: 5 * time.Minute}
	actions := map[string]playbook.Action{}
	for name, a := range idp.Actions() {
		actions[name] = contain.Retry(a, retry)
	}
	return playbook.Playbook{
		Name:            "okta-identity-risk",
		Triggers:        triggers,
		Enricher:        enricher,
		Policy:          policy,
		Actions:         actions,
		Approver:        approver,
		ApprovalRule:    rule,
		ApprovalTimeout: timeout,
		Audit:           []playbook.AuditSink{trail},
		DryRun:          dryRun,
	}, nil
}
