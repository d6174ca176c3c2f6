package main

import (
	"context"
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

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/enrich"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/okta"
	"github.com/iamplaybook/iamplaybook/store"
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
	statePath  string
	listen     string
	hookPath   string
	interval   time.Duration
	since      time.Duration
	privGroups []string
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	var groups string
	fs := flag.NewFlagSet("okta", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.BoolVar(&o.enforce, "enforce", false, "contain for real; without it the responder runs in shadow (dry-run) mode")
	fs.StringVar(&o.auditPath, "audit", "okta-audit.jsonl", "the JSON Lines audit trail")
	fs.StringVar(&o.statePath, "state", "okta-state.json", "the System Log cursor and idempotency records")
	fs.StringVar(&o.listen, "listen", "", "serve the Event Hook receiver at this address (empty: no receiver)")
	fs.StringVar(&o.hookPath, "hook-path", "/okta/event-hook", "the Event Hook receiver's path")
	fs.DurationVar(&o.interval, "poll-interval", okta.DefaultPollInterval, "the System Log poll interval")
	fs.DurationVar(&o.since, "since", 0, "on first start, read the System Log from this long ago")
	fs.StringVar(&groups, "privileged-groups", "", "comma-separated group ids or names whose members are privileged")
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
	for g := range strings.SplitSeq(groups, ",") {
		if g = strings.TrimSpace(g); g != "" {
			o.privGroups = append(o.privGroups, g)
		}
	}
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
// accepted and returns.
func run(ctx context.Context, args []string, env func(string) string, stdout io.Writer) error {
	o, err := parseFlags(args, stdout)
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
	// Fail fast on refused credentials rather than log poll errors forever.
	if _, err := client.Logs(ctx, okta.LogQuery{Limit: 1, Since: time.Now().Add(-time.Minute), Until: time.Now().Add(time.Minute)}); err != nil {
		return fmt.Errorf("reading the System Log (needs okta.logs.read): %w", err)
	}
	state, err := okta.OpenFileStore(o.statePath)
	if err != nil {
		return err
	}
	idp, err := okta.NewProvider(client, okta.ProviderConfig{PrivilegedGroups: o.privGroups, Store: state})
	if err != nil {
		return err
	}
	trail, err := audit.OpenJSONL(o.auditPath, audit.JSONLOptions{})
	if err != nil {
		return err
	}
	defer trail.Close()

	poller, err := idp.Poller(okta.PollerConfig{Store: state, Since: time.Now().Add(-o.since), Interval: o.interval, Logger: log})
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

	approver, queue := newApprover(log)
	pb, err := buildPlaybook(idp, triggers, approver, trail, !o.enforce)
	if err != nil {
		return err
	}
	runner, err := playbook.NewRunner(pb, playbook.Options{Store: store.NewMemory(), Logger: log})
	if err != nil {
		return err
	}
	queue.Bind(runner)

	mode := "shadow (dry-run: no Okta writes)"
	if o.enforce {
		mode = "enforce"
	}
	log.Info("okta responder starting", "org", client.OrgURL(), "mode", mode, "audit", o.auditPath, "state", o.statePath)

	var srv *http.Server
	serveErr := make(chan error, 1)
	if hook != nil {
		ln, err := net.Listen("tcp", o.listen)
		if err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle(o.hookPath, hook)
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
		go func() { serveErr <- srv.Serve(ln) }()
		log.Info("event hook receiver listening", "url", "http://"+ln.Addr().String()+o.hookPath)
	}

	runErr := runner.Run(ctx)
	if srv != nil {
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = srv.Shutdown(shutCtx)
		cancel()
		if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			runErr = errors.Join(runErr, err)
		}
	}
	if err := trail.Close(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	log.Info("okta responder stopped", "pending_approvals", len(queue.Requests()))
	return runErr
}

// buildPlaybook assembles the playbook: enrichment from Okta, the risk ×
// privilege matrix, containment actions retried on throttling (honouring
// X-Rate-Limit-Reset) and transient failures, and the approver.
func buildPlaybook(idp *okta.Provider, triggers []playbook.Trigger, approver playbook.Approver, trail playbook.AuditSink, dryRun bool) (playbook.Playbook, error) {
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
	policy, err := decide.Matrix(decide.MatrixConfig{})
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
		ApprovalTimeout: 4 * time.Hour,
		Audit:           []playbook.AuditSink{trail},
		DryRun:          dryRun,
	}, nil
}
