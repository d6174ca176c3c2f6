package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/approve/web"
	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/enrich"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/cursor"
	"github.com/iamplaybook/iamplaybook/providers/entra"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "entra:", err)
		os.Exit(1)
	}
}

// options are the responder's settings, from flags and the environment.
type options struct {
	graphURL, tokenURL string
	enforce            bool
	auditPath          string
	pollInterval       time.Duration
	lookback           time.Duration
	approvalTimeout    time.Duration
	breakGlass         []string
	privilegedRoles    []string
	privilegedGroups   []string
	verbose            bool

	// db is the SQLite file holding runs and waiting approvals.
	db string
	// Approvals (see newApprover and approvalRules).
	approvers       []string
	quorum          int
	remindEvery     time.Duration
	escalateTo      []string
	escalateAfter   time.Duration
	approvalListen  string
	approvalBaseURL string
	approvalWebhook string
}

// Defaults of the durable store and the approval channel.
const (
	defaultDB             = "iamplaybook.db"
	defaultApprovalListen = "127.0.0.1:8085"
	defaultRemindEvery    = time.Hour
)

// parseFlags reads the flags, with getenv supplying the fallbacks of
// those that have one (IAMPLAYBOOK_DB).
func parseFlags(args []string, getenv func(string) string, out io.Writer) (options, error) {
	var o options
	var breakGlass, roles, groups, approvers, escalateTo string
	fs := flag.NewFlagSet("entra", flag.ContinueOnError)
	fs.SetOutput(out)
	db := getenv("IAMPLAYBOOK_DB")
	if db == "" {
		db = defaultDB
	}
	fs.StringVar(&o.db, "db", db, "SQLite file holding runs and waiting approvals (env IAMPLAYBOOK_DB); created if missing")
	fs.StringVar(&approvers, "approvers", "", "comma-separated approver identities (e-mail addresses) invited to the web approval pages; without it, approvals are given with the iamplaybook CLI only")
	fs.IntVar(&o.quorum, "quorum", 1, "how many of --approvers must approve; one denial denies")
	fs.DurationVar(&o.remindEvery, "approval-remind", defaultRemindEvery, "re-invite approvers who have not voted at this interval (0: never; else at least 1m)")
	fs.StringVar(&escalateTo, "escalate-to", "", "comma-separated fallback approvers invited after --escalate-after; one of them can settle the request alone")
	fs.DurationVar(&o.escalateAfter, "escalate-after", 0, "when --escalate-to is invited (default: half of --approval-timeout)")
	fs.StringVar(&o.approvalListen, "approval-listen", defaultApprovalListen, "listen address of the approval pages (with --approvers)")
	fs.StringVar(&o.approvalBaseURL, "approval-base-url", "", "public URL of the approval pages, as approvers reach them, e.g. https://iam.example.com/approve (default http://LISTEN-ADDRESS/approve)")
	fs.StringVar(&o.approvalWebhook, "approval-webhook", "", "also POST approval requests and notices, signed with IAMPLAYBOOK_WEBHOOK_SECRET, to this URL")
	fs.StringVar(&o.graphURL, "graph-url", entra.DefaultGraphURL, "Microsoft Graph base URL, with the version (national clouds, tests)")
	fs.StringVar(&o.tokenURL, "token-url", "", "token endpoint (default https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token)")
	fs.BoolVar(&o.enforce, "enforce", false, "contain for real; without it the responder runs in shadow (dry-run) mode")
	fs.StringVar(&o.auditPath, "audit", "entra-audit.jsonl", "hash-chained JSON Lines audit file (appended to)")
	fs.DurationVar(&o.pollInterval, "poll-interval", time.Minute, "time between polls of each Graph source")
	fs.DurationVar(&o.lookback, "lookback", 24*time.Hour, "how far back the first poll (without a saved cursor) reads")
	fs.DurationVar(&o.approvalTimeout, "approval-timeout", 4*time.Hour, "how long an approval request waits before the run escalates")
	fs.StringVar(&breakGlass, "break-glass", "", "comma-separated break-glass accounts (UPN or object id), never contained automatically")
	fs.StringVar(&roles, "privileged-roles", "", "comma-separated role template ids that make their holders privileged (default: Global Administrator and the other tenant-takeover roles)")
	fs.StringVar(&groups, "privileged-groups", "", "comma-separated group ids whose members are privileged and whose new members are reported")
	fs.BoolVar(&o.verbose, "v", false, "log debug diagnostics")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.pollInterval <= 0 || o.lookback <= 0 || o.approvalTimeout <= 0 {
		return o, errors.New("--poll-interval, --lookback and --approval-timeout must be positive")
	}
	if o.auditPath == "" {
		return o, errors.New("--audit must name a file")
	}
	if o.db == "" {
		return o, errors.New("--db must name a file")
	}
	o.approvers, o.escalateTo = splitList(approvers), splitList(escalateTo)
	if len(o.approvers) == 0 {
		var set []string
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "quorum", "approval-remind", "escalate-to", "escalate-after", "approval-listen", "approval-base-url", "approval-webhook":
				set = append(set, "--"+f.Name)
			}
		})
		if len(set) > 0 {
			return o, fmt.Errorf("approval flags (%s) need --approvers; without approvers, approvals are given with the iamplaybook CLI", strings.Join(set, ", "))
		}
	}
	if o.escalateAfter != 0 && len(o.escalateTo) == 0 {
		return o, errors.New("--escalate-after needs --escalate-to")
	}
	if o.escalateAfter == 0 {
		o.escalateAfter = o.approvalTimeout / 2
	}
	if o.quorum < 1 || o.remindEvery < 0 || o.escalateAfter < 0 {
		return o, errors.New("--quorum must be at least 1, --approval-remind and --escalate-after not negative")
	}
	if len(o.approvers) > 0 {
		if err := approvalRules(o).Validate(); err != nil {
			return o, fmt.Errorf("approval flags: %w", err)
		}
	}
	o.breakGlass, o.privilegedRoles, o.privilegedGroups = splitList(breakGlass), splitList(roles), splitList(groups)
	if len(o.privilegedRoles) == 0 {
		o.privilegedRoles = decide.DefaultPrivilegedRoles()
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// credentials reads the tenant, the app and its secret or certificate from
// the environment.
func credentials(getenv func(string) string, cfg *entra.Config) error {
	cfg.TenantID, cfg.ClientID = getenv("ENTRA_TENANT_ID"), getenv("ENTRA_CLIENT_ID")
	if cfg.TenantID == "" || cfg.ClientID == "" {
		return errors.New("ENTRA_TENANT_ID and ENTRA_CLIENT_ID must be set")
	}
	secret, certFile, keyFile := getenv("ENTRA_CLIENT_SECRET"), getenv("ENTRA_CERT_FILE"), getenv("ENTRA_KEY_FILE")
	switch {
	case secret != "" && (certFile != "" || keyFile != ""):
		return errors.New("set ENTRA_CLIENT_SECRET or ENTRA_CERT_FILE with ENTRA_KEY_FILE, not both")
	case secret != "":
		cfg.ClientSecret = secret
		return nil
	case certFile == "" || keyFile == "":
		return errors.New("set ENTRA_CLIENT_SECRET, or ENTRA_CERT_FILE and ENTRA_KEY_FILE")
	}
	cert, err := readCertificate(certFile)
	if err != nil {
		return err
	}
	key, err := readKey(keyFile)
	if err != nil {
		return err
	}
	cfg.Certificate, cfg.PrivateKey = cert, key
	return nil
}

func readCertificate(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ENTRA_CERT_FILE: %w", err)
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("ENTRA_CERT_FILE %s holds no PEM CERTIFICATE block", path)
		}
		if blk.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("ENTRA_CERT_FILE %s: %w", path, err)
			}
			return c, nil
		}
	}
}

// readKey reads a PEM private key; errors name the file, never the key.
func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ENTRA_KEY_FILE: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("ENTRA_KEY_FILE %s holds no PEM block", path)
	}
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("ENTRA_KEY_FILE %s is not a PKCS#8 or PKCS#1 private key", path)
}

// approvalSecretsFrom reads the approval keys from the environment when the
// approval flags need them. The errors name the variable, never its value.
func approvalSecretsFrom(getenv func(string) string, o options) (approvalSecrets, error) {
	var s approvalSecrets
	if len(o.approvers) == 0 {
		return s, nil
	}
	s.linkKey = []byte(getenv("IAMPLAYBOOK_LINK_KEY"))
	if len(s.linkKey) < web.MinKeySize {
		return s, fmt.Errorf("--approvers needs IAMPLAYBOOK_LINK_KEY, a random key of at least %d bytes (e.g. openssl rand -base64 48)", web.MinKeySize)
	}
	if o.approvalWebhook != "" {
		s.webhookSecret = []byte(getenv("IAMPLAYBOOK_WEBHOOK_SECRET"))
		if len(s.webhookSecret) < approve.MinWebhookSecret {
			return s, fmt.Errorf("--approval-webhook needs IAMPLAYBOOK_WEBHOOK_SECRET, a shared secret of at least %d bytes", approve.MinWebhookSecret)
		}
	}
	return s, nil
}

// lockedStore is the runs' store with its runner lock already taken by run
// (before the audit trail is opened and the approval pages listen), so
// that a second responder on the same file fails first of all, naming the
// holder. The runner's own Lock gets the held lock, which it releases when
// it stops.
type lockedStore struct {
	*sqlite.Store
	unlock func() error
}

// Lock returns the lock run took.
func (s lockedStore) Lock(context.Context, string) (func() error, error) { return s.unlock, nil }

// run starts the responder and blocks until ctx ends; it returns nil then,
// after the runner has drained, or the error that kept it from starting.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	o, err := parseFlags(args, getenv, stdout)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: level}))

	cfg := entra.Config{GraphURL: o.graphURL, TokenURL: o.tokenURL, PrivilegedRoleTemplates: o.privilegedRoles,
		PrivilegedGroups: o.privilegedGroups, Logger: logger}
	if err := credentials(getenv, &cfg); err != nil {
		return err
	}
	secrets, err := approvalSecretsFrom(getenv, o)
	if err != nil {
		return err
	}
	client, err := entra.New(cfg)
	if err != nil {
		return err
	}

	st, err := sqlite.Open(ctx, o.db, sqlite.Options{})
	if err != nil {
		return fmt.Errorf("--db: %w", err)
	}
	defer st.Close()
	host, _ := os.Hostname()
	unlock, err := st.Lock(ctx, fmt.Sprintf("entra responder on %s (pid %d)", host, os.Getpid()))
	if err != nil {
		if errors.Is(err, playbook.ErrStoreLocked) {
			return fmt.Errorf("another responder runs on %s; stop it first or use another --db: %w", o.db, err)
		}
		return err
	}
	defer unlock()

	trail, err := audit.OpenJSONL(o.auditPath, audit.JSONLOptions{})
	if err != nil {
		return err
	}
	defer trail.Close()

	var ln net.Listener
	if len(o.approvers) > 0 {
		if ln, err = net.Listen("tcp", o.approvalListen); err != nil {
			return fmt.Errorf("--approval-listen: %w", err)
		}
		defer ln.Close()
		if o.approvalBaseURL == "" {
			o.approvalBaseURL = "http://" + ln.Addr().String() + "/approve"
		}
	}
	appr, err := newApprover(logger, o, secrets, st, trail)
	if err != nil {
		return err
	}
	// The pollers' cursors live in the run store: one file to back up,
	// and a restart resumes where the last process stopped.
	pb, err := buildPlaybook(client, o, appr, st, trail)
	if err != nil {
		return err
	}
	runner, err := playbook.NewRunner(pb, playbook.Options{Store: lockedStore{st, unlock}, Logger: logger})
	if err != nil {
		return err
	}

	stopPages := func() {}
	if appr.pages != nil {
		appr.pages.Bind(runner)
		mux := http.NewServeMux()
		mux.Handle("/approve", appr.pages)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		stopPages = func() {
			shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(shutCtx)
			if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("approval pages stopped", "err", err)
			}
		}
	}

	mode := "shadow (dry-run: nothing is written to the tenant; pass --enforce to contain)"
	if o.enforce {
		mode = "enforce"
	}
	attrs := []any{"tenant", client.TenantID(), "mode", mode, "db", o.db, "audit", o.auditPath,
		"break_glass", len(o.breakGlass), "poll_interval", o.pollInterval}
	if appr.pages != nil {
		attrs = append(attrs, "approvals", "web pages and the operator CLI", "approval_listen", ln.Addr().String(),
			"approval_base_url", o.approvalBaseURL)
	} else {
		attrs = append(attrs, "approvals", "operator CLI only: iamplaybook --db "+o.db+" approvals list")
	}
	logger.Info("entra responder started", attrs...)
	err = runner.Run(ctx)
	stopPages()
	if cerr := trail.Close(); err == nil {
		err = cerr
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	logger.Info("entra responder stopped")
	return err
}

// buildPlaybook assembles the playbook: Graph pollers keeping their
// cursors in cursors, enrichment, the risk × privilege matrix behind
// break-glass protection and a containment budget, retried Graph actions,
// the approval channel and the audit trail.
func buildPlaybook(client *entra.Client, o options, appr approval, cursors cursor.Store, sinks ...playbook.AuditSink) (playbook.Playbook, error) {
	poll := entra.PollOptions{Interval: o.pollInterval, Lookback: o.lookback, Cursors: cursors}

	readRetry := contain.RetryPolicy{MaxAttempts: 3, MaxElapsed: 30 * time.Second}
	enricher, err := enrich.Parallel(enrich.Options{},
		enrich.Required("profile", enrich.Retry(client.ProfileEnricher(), readRetry), 45*time.Second),
		enrich.Required("roles", enrich.Retry(client.RolesEnricher(), readRetry), 45*time.Second),
		enrich.Optional("groups", client.GroupsEnricher(), 30*time.Second),
		enrich.Optional("sign-ins", client.SignInsEnricher(10), 30*time.Second),
		enrich.Optional("risk", client.RiskEnricher(), 30*time.Second),
	)
	if err != nil {
		return playbook.Playbook{}, err
	}

	matrix, err := decide.Matrix(decide.MatrixConfig{PrivilegedRoles: o.privilegedRoles})
	if err != nil {
		return playbook.Playbook{}, err
	}
	// Break-glass accounts are handled by people, never by automation.
	protected, err := decide.Protect(matrix, decide.ProtectConfig{Accounts: o.breakGlass, EscalateApprovals: true})
	if err != nil {
		return playbook.Playbook{}, fmt.Errorf("--break-glass: %w", err)
	}
	policy, err := decide.Budget(protected, decide.BudgetConfig{Max: decide.DefaultBudgetMax, Window: decide.DefaultBudgetWindow})
	if err != nil {
		return playbook.Playbook{}, err
	}

	// Writes are retried on throttling (honouring Graph's Retry-After) and
	// transient failures; 401/403/404 are permanent and escalate at once.
	retry := contain.RetryPolicy{MaxAttempts: 5, MaxElapsed: 2 * time.Minute}
	actions := map[string]playbook.Action{}
	for name, a := range client.Actions() {
		actions[name] = contain.Retry(a, retry)
	}

	return playbook.Playbook{
		Name: "entra-identity-risk",
		Triggers: []playbook.Trigger{
			client.RiskDetectionsTrigger(poll),
			client.RiskyUsersTrigger(poll),
			client.DirectoryAuditTrigger(poll, false),
		},
		Enricher:        enricher,
		Policy:          policy,
		Actions:         actions,
		Approver:        appr.approver,
		ApprovalRule:    appr.rule,
		ApprovalTimeout: o.approvalTimeout,
		Audit:           sinks,
		DryRun:          !o.enforce,
	}, nil
}
