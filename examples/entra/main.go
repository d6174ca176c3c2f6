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
	"github.com/iamplaybook/iamplaybook/providers/entra"
	"github.com/iamplaybook/iamplaybook/store"
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
	stateDir           string
	pollInterval       time.Duration
	lookback           time.Duration
	approvalTimeout    time.Duration
	breakGlass         []string
	privilegedRoles    []string
	privilegedGroups   []string
	verbose            bool
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	var breakGlass, roles, groups string
	fs := flag.NewFlagSet("entra", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.graphURL, "graph-url", entra.DefaultGraphURL, "Microsoft Graph base URL, with the version (national clouds, tests)")
	fs.StringVar(&o.tokenURL, "token-url", "", "token endpoint (default https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token)")
	fs.BoolVar(&o.enforce, "enforce", false, "contain for real; without it the responder runs in shadow (dry-run) mode")
	fs.StringVar(&o.auditPath, "audit", "entra-audit.jsonl", "hash-chained JSON Lines audit file (appended to)")
	fs.StringVar(&o.stateDir, "state-dir", "", "directory for the pollers' cursors (default: in memory, lost on restart)")
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

// run starts the responder and blocks until ctx ends; it returns nil then,
// after the runner has drained, or the error that kept it from starting.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	o, err := parseFlags(args, stdout)
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
	client, err := entra.New(cfg)
	if err != nil {
		return err
	}

	trail, err := audit.OpenJSONL(o.auditPath, audit.JSONLOptions{})
	if err != nil {
		return err
	}
	defer trail.Close()

	pb, approvals, err := buildPlaybook(client, o, logger, trail)
	if err != nil {
		return err
	}
	runner, err := playbook.NewRunner(pb, playbook.Options{Store: store.NewMemory(), Logger: logger})
	if err != nil {
		return err
	}
	approvals.Bind(runner)

	mode := "shadow (dry-run: nothing is written to the tenant; pass --enforce to contain)"
	if o.enforce {
		mode = "enforce"
	}
	logger.Info("entra responder started", "tenant", client.TenantID(), "mode", mode, "audit", o.auditPath,
		"break_glass", len(o.breakGlass), "poll_interval", o.pollInterval)
	err = runner.Run(ctx)
	if cerr := trail.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	logger.Info("entra responder stopped")
	return err
}

// buildPlaybook assembles the playbook: Graph pollers, enrichment, the risk
// × privilege matrix behind break-glass protection and a containment budget,
// retried Graph actions, the approver and the audit trail.
func buildPlaybook(client *entra.Client, o options, logger *slog.Logger, sinks ...playbook.AuditSink) (playbook.Playbook, *approve.Queue, error) {
	var cursors entra.CursorStore = &entra.MemoryCursors{}
	if o.stateDir != "" {
		fc, err := entra.NewFileCursors(o.stateDir)
		if err != nil {
			return playbook.Playbook{}, nil, err
		}
		cursors = fc
	}
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
		return playbook.Playbook{}, nil, err
	}

	matrix, err := decide.Matrix(decide.MatrixConfig{PrivilegedRoles: o.privilegedRoles})
	if err != nil {
		return playbook.Playbook{}, nil, err
	}
	// Break-glass accounts are handled by people, never by automation.
	protected, err := decide.Protect(matrix, decide.ProtectConfig{Accounts: o.breakGlass, EscalateApprovals: true})
	if err != nil {
		return playbook.Playbook{}, nil, fmt.Errorf("--break-glass: %w", err)
	}
	policy, err := decide.Budget(protected, decide.BudgetConfig{Max: decide.DefaultBudgetMax, Window: decide.DefaultBudgetWindow})
	if err != nil {
		return playbook.Playbook{}, nil, err
	}

	// Writes are retried on throttling (honouring Graph's Retry-After) and
	// transient failures; 401/403/404 are permanent and escalate at once.
	retry := contain.RetryPolicy{MaxAttempts: 5, MaxElapsed: 2 * time.Minute}
	actions := map[string]playbook.Action{}
	for name, a := range client.Actions() {
		actions[name] = contain.Retry(a, retry)
	}

	approver, queue := newApprover(logger)
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
		Approver:        approver,
		ApprovalTimeout: o.approvalTimeout,
		Audit:           sinks,
		DryRun:          !o.enforce,
	}, queue, nil
}
