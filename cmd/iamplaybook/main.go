package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

// Environment variables the tool reads.
const (
	envDB       = "IAMPLAYBOOK_DB"
	envAuditKey = "IAMPLAYBOOK_AUDIT_KEY"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line (without the program name) and returns the
// exit status. It reads the environment and the system clock.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr, getenv: os.Getenv, now: time.Now, poll: 200 * time.Millisecond}
	return c.main(ctx, args)
}

// cli holds one invocation's settings and outputs.
type cli struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time
	// poll is how often --wait re-reads the approval.
	poll time.Duration

	db   string
	json bool
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

const usageText = `usage: iamplaybook [--db FILE] [--json] COMMAND [ARGS]

commands:
  runs list [--state S] [--subject U] [--limit N]
  runs show [--audit FILE] RUN_ID
  approvals list
  approve ID --by NAME [--reason R] [--wait] [--timeout D]
  deny ID --by NAME --reason R [--wait] [--timeout D]
  audit verify [--head HASH] FILE

The database is --db FILE, or $IAMPLAYBOOK_DB when --db is absent.
A keyed audit trail needs its HMAC key in $IAMPLAYBOOK_AUDIT_KEY (hex, or
base64 with the prefix "base64:").
`

func (c *cli) main(ctx context.Context, args []string) int {
	c.db = c.getenv(envDB)
	top := c.flagSet("iamplaybook")
	if err := top.Parse(args); err != nil {
		return c.fail(err)
	}
	args = top.Args()
	if len(args) == 0 {
		return c.fail(usagef("no command given"))
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "runs":
		err = c.sub(ctx, "runs", rest, map[string]func(context.Context, []string) error{
			"list": c.runsList, "show": c.runsShow,
		})
	case "approvals":
		err = c.sub(ctx, "approvals", rest, map[string]func(context.Context, []string) error{
			"list": c.approvalsList,
		})
	case "approve":
		err = c.verdict(ctx, "approve", rest, true)
	case "deny":
		err = c.verdict(ctx, "deny", rest, false)
	case "audit":
		err = c.sub(ctx, "audit", rest, map[string]func(context.Context, []string) error{
			"verify": c.auditVerify,
		})
	case "help":
		fmt.Fprint(c.stdout, usageText)
		return exitOK
	default:
		err = usagef("unknown command %q", cmd)
	}
	if err != nil {
		return c.fail(err)
	}
	return exitOK
}

// fail prints err and returns the matching exit status.
func (c *cli) fail(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(c.stdout, usageText)
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(c.stderr, "iamplaybook: %s\n\n%s", ue.msg, usageText)
		return exitUsage
	}
	fmt.Fprintf(c.stderr, "iamplaybook: %v\n", err)
	return exitFail
}

func (c *cli) sub(ctx context.Context, name string, args []string, cmds map[string]func(context.Context, []string) error) error {
	if len(args) == 0 {
		return usagef("%s: no subcommand given", name)
	}
	f, ok := cmds[args[0]]
	if !ok {
		return usagef("%s: unknown subcommand %q", name, args[0])
	}
	return f(ctx, args[1:])
}

// flagSet returns a flag set that also accepts the global flags, so that
// they may be given after the command too.
func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.db, "db", c.db, "the SQLite database `FILE` (default $"+envDB+")")
	fs.BoolVar(&c.json, "json", c.json, "print JSON for scripts")
	return fs
}

// parse parses flags interspersed with positional arguments and returns the
// positional ones. Flag errors are usage errors.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// wantArgs checks the number of positional arguments.
func wantArgs(cmd string, pos []string, names ...string) error {
	if len(pos) < len(names) {
		return usagef("%s: missing %s", cmd, strings.Join(names[len(pos):], ", "))
	}
	if len(pos) > len(names) {
		return usagef("%s: unexpected argument %q", cmd, pos[len(names)])
	}
	return nil
}

// storeDB is what the commands need of the store.
type storeDB interface {
	playbook.Store
	playbook.VerdictInbox
	Close() error
}

var _ storeDB = (*sqlite.Store)(nil)

// open opens the database named by --db or $IAMPLAYBOOK_DB. It never
// creates one: a missing path is an error.
func (c *cli) open(ctx context.Context) (storeDB, error) {
	if c.db == "" {
		return nil, usagef("no database: give --db FILE or set %s", envDB)
	}
	fi, err := os.Stat(c.db)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("database %s does not exist (check --db or %s)", c.db, envDB)
	case err != nil:
		return nil, fmt.Errorf("database %s: %w", c.db, err)
	case fi.IsDir():
		return nil, fmt.Errorf("database %s is a directory, not an iamplaybook database file", c.db)
	case fi.Size() == 0:
		// SQLite would take an empty file for a new database and the
		// store would initialise it: not for an operator tool to do.
		return nil, fmt.Errorf("database %s is empty, not an iamplaybook database (a runner creates the database when it first starts)", c.db)
	}
	st, err := sqlite.Open(ctx, c.db, sqlite.Options{MustExist: true})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("database %s does not exist (check --db or %s)", c.db, envDB)
	case errors.Is(err, sqlite.ErrCorrupt):
		return nil, fmt.Errorf("database %s is damaged; restore it from a backup or inspect it with the sqlite3 tool: %w", c.db, err)
	case errors.Is(err, sqlite.ErrSchemaTooNew):
		return nil, fmt.Errorf("database %s was written by a newer version of iamplaybook; use that version's tool: %w", c.db, err)
	case errors.Is(err, sqlite.ErrNotDatabase):
		return nil, fmt.Errorf("%s is not an iamplaybook database: %w", c.db, err)
	case err != nil:
		return nil, fmt.Errorf("opening database %s: %w", c.db, err)
	}
	return st, nil
}

// printJSON writes v as indented JSON.
func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// timeFmt formats times for people: UTC, to the second.
func timeFmt(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// timeFmtMilli formats the times of a timeline: UTC, to the millisecond.
func timeFmtMilli(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000Z")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
