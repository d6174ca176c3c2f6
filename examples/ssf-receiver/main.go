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
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/fake"
	"github.com/iamplaybook/iamplaybook/providers/ssf"
	"github.com/iamplaybook/iamplaybook/store"
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

type options struct {
	listen, transmitter, audience, auditPath, bearer string
	enforce, verbose                                 bool
}

func parseFlags(args []string, getenv func(string) string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("ssf-receiver", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8088", "address to accept pushed SETs on")
	fs.StringVar(&o.transmitter, "transmitter", "", "the transmitter's issuer URL; its /.well-known/ssf-configuration is read (required)")
	fs.StringVar(&o.audience, "audience", "", "this receiver's audience, as the transmitter puts it in aud (required)")
	fs.StringVar(&o.auditPath, "audit", "ssf-audit.jsonl", "append the hash-chained audit trail to this JSON Lines file")
	fs.BoolVar(&o.enforce, "enforce", false, "contain for real; without it the program runs in shadow mode (dry run)")
	fs.StringVar(&o.bearer, "bearer", "", "require this bearer token on pushes (prefer the SSF_RECEIVER_BEARER environment variable)")
	fs.BoolVar(&o.verbose, "v", false, "log diagnostics to stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if o.bearer == "" && getenv != nil {
		o.bearer = getenv("SSF_RECEIVER_BEARER")
	}
	switch {
	case o.transmitter == "":
		return o, errors.New("--transmitter is required")
	case o.audience == "":
		return o, errors.New("--audience is required")
	case o.auditPath == "":
		return o, errors.New("--audit must name a file")
	}
	return o, nil
}

// run is the program: it serves until ctx ends, then drains and reports.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	o, err := parseFlags(args, getenv, stdout)
	if err != nil {
		return err
	}
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

	idp, logins, err := seedDirectory()
	if err != nil {
		return fmt.Errorf("seeding the directory: %w", err)
	}
	pb, approvals, err := buildPlaybook(idp, !o.enforce, trail)
	if err != nil {
		return err
	}
	st := store.NewMemory()
	runner, err := playbook.NewRunner(pb, playbook.Options{Store: st, Logger: logger})
	if err != nil {
		return err
	}
	approvals.Bind(runner)

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

	runCtx, stopRunner := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRunner()
	runnerDone := make(chan error, 1)
	go func() { runnerDone <- runner.Run(runCtx) }()

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		stopRunner()
		<-runnerDone
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+EventsPath, rcv)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	mode := "shadow mode (dry run: nothing is contained)"
	if o.enforce {
		mode = "ENFORCING (containment acts on the directory)"
	}
	fmt.Fprintf(stdout, "receiving SETs from %s, %s\nlistening on http://%s%s\n", md.Issuer, mode, ln.Addr(), EventsPath)

	var failure error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		failure = fmt.Errorf("serving: %w", err)
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		failure = errors.Join(failure, fmt.Errorf("stopping the server: %w", err))
	}
	stopRunner()
	if err := <-runnerDone; err != nil {
		failure = errors.Join(failure, err)
	}
	if err := report(context.WithoutCancel(ctx), stdout, st, idp); err != nil {
		failure = errors.Join(failure, err)
	}
	if err := trail.Close(); err != nil {
		failure = errors.Join(failure, err)
	}
	return failure
}

// report prints what became of each run.
func report(ctx context.Context, out io.Writer, st playbook.Store, idp *fake.Provider) error {
	runs, err := st.ListRuns(ctx, playbook.RunFilter{})
	if err != nil {
		return err
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
	fmt.Fprintf(out, "directory writes: %d\n", len(idp.Writes()))
	return nil
}
