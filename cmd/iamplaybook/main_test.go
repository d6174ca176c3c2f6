package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The fixture's runs.
const (
	runDone     = "11111111-0000-4000-8000-000000000001"
	runWaiting  = "11111111-0000-4000-8000-000000000002"
	runOverdue  = "11111111-0000-4000-8000-000000000003"
	runApproved = "11111111-0000-4000-8000-000000000004"
	runVoted    = "11111111-0000-4000-8000-000000000005"
	gusLogin    = "gus@contoso.example"
	itOps       = "it-ops@contoso.example"
	lead        = "secops-lead@contoso.example"
)

// fixture is a SQLite file holding one run of each kind the commands
// distinguish, and an audit trail written for the finished one.
type fixture struct {
	db, audit string
	now       time.Time
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	f := fixture{db: filepath.Join(dir, "runs.db"), audit: filepath.Join(dir, "audit.jsonl"), now: time.Now().UTC()}
	st, err := sqlite.Open(ctx, f.db, sqlite.Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, st.Close()) }()

	contain := playbook.Decision{Response: playbook.RespondApprove, Rule: "high-risk-privileged",
		Steps: []playbook.Step{{Action: playbook.ActionDisableUser}, {Action: playbook.ActionRevokeSessions}}}
	run := func(id, user string, created time.Time) playbook.Run {
		return playbook.Run{
			ID: id, Subject: "entra:" + user, State: playbook.RunWaiting, CreatedAt: created, UpdatedAt: created,
			Event: playbook.Event{ID: "det-" + id[len(id)-1:], Type: playbook.EventRiskySignIn, Source: "identity-protection", Risk: playbook.RiskHigh,
				Subject: playbook.Subject{Provider: "entra", ID: user, Login: user + "@contoso.example"}, Actor: itOps},
		}
	}
	approval := func(r playbook.Run, deadline time.Time) *playbook.Approval {
		summary := "Subject: " + r.Event.Subject.Login + "\nDecision: approve by rule high-risk-privileged\n"
		return &playbook.Approval{Status: playbook.ApprovalPending, Request: playbook.ApprovalRequest{
			ID: playbook.ApprovalID(r.ID), RunID: r.ID, Subject: r.Event.Subject, Actor: r.Event.Actor,
			Identities: []string{r.Event.Subject.ID, r.Event.Subject.Login, "gus.admin@contoso.example"},
			Risk:       r.Event.Risk, Decision: contain, Summary: summary, SummaryHash: "ab12",
			RequestedAt: deadline.Add(-4 * time.Hour), Deadline: deadline,
		}}
	}

	done := run(runDone, "ana", f.now.Add(-5*time.Hour))
	done.State, done.Outcome = playbook.RunDone, playbook.OutcomeContained
	d := contain
	d.Response, d.Rule = playbook.RespondContain, "high-risk-standard"
	done.Decision = &d

	waiting := run(runWaiting, "gus", f.now.Add(-4*time.Hour))
	waiting.Decision = &contain
	waiting.Approval = approval(waiting, f.now.Add(3*time.Hour))

	overdue := run(runOverdue, "ray", f.now.Add(-3*time.Hour))
	overdue.Decision = &contain
	overdue.Approval = approval(overdue, f.now.Add(-time.Minute))

	approved := run(runApproved, "tia", f.now.Add(-2*time.Hour))
	approved.State = playbook.RunRunning
	approved.Decision = &contain
	approved.Approval = approval(approved, f.now.Add(time.Hour))
	approved.Approval.Status, approved.Approval.DecidedAt = playbook.ApprovalApproved, f.now.Add(-time.Hour)
	approved.Approval.Verdicts = []playbook.Verdict{{ApprovalID: playbook.ApprovalID(runApproved), Approver: lead, Approve: true, Channel: "web", At: f.now.Add(-time.Hour)}}

	voted := run(runVoted, "leo", f.now.Add(-time.Hour))
	voted.Decision = &contain
	voted.Approval = approval(voted, f.now.Add(2*time.Hour))
	voted.Approval.Verdicts = []playbook.Verdict{{ApprovalID: playbook.ApprovalID(runVoted), Approver: lead, Approve: true, Channel: "slack", At: f.now.Add(-time.Minute)}}

	for _, r := range []playbook.Run{done, waiting, overdue, approved, voted} {
		require.NoError(t, st.CreateRun(ctx, r))
	}
	start := f.now.Add(-5 * time.Hour)
	for i, s := range []playbook.StepRecord{
		{StepID: "enrich", Kind: playbook.StepEnrich, Status: playbook.StepDone, Attempt: 1},
		{StepID: "decide", Kind: playbook.StepDecide, Status: playbook.StepDone, Attempt: 1},
		{StepID: "contain/0/disable-user", Kind: playbook.StepAction, Action: playbook.ActionDisableUser, Status: playbook.StepDone, Attempt: 2, IdempotencyKey: runDone + "/contain/0/disable-user"},
		{StepID: "contain/1/revoke-sessions", Kind: playbook.StepAction, Action: playbook.ActionRevokeSessions, Status: playbook.StepFailed, Attempt: 1, Error: "entra revoke-sessions: unavailable\n(status 503)"},
	} {
		s.RunID = runDone
		s.StartedAt = start.Add(time.Duration(i) * time.Second)
		s.EndedAt = s.StartedAt.Add(250 * time.Millisecond)
		require.NoError(t, st.PutStep(ctx, s))
	}

	trail, err := audit.OpenJSONL(f.audit, audit.JSONLOptions{})
	require.NoError(t, err)
	for _, rec := range []audit.Record{
		{Type: audit.TypeEventReceived, RunID: runDone, Actor: "system"},
		{Type: audit.TypeEventReceived, RunID: runWaiting, Actor: "system"},
		{Type: audit.TypeActionIntent, RunID: runDone, Actor: "system", Step: "contain/0/disable-user"},
		{Type: audit.TypeActionResult, RunID: runDone, Actor: "system", Step: "contain/0/disable-user", Outcome: "applied"},
		{Type: audit.TypeRunResolved, RunID: runDone, Actor: "system", Outcome: "contained"},
	} {
		rec.Time = start
		require.NoError(t, trail.Record(ctx, rec))
	}
	require.NoError(t, trail.Close())
	return f
}

// invoke runs one command line in-process with the given environment.
func invoke(ctx context.Context, env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	c := &cli{stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }, now: time.Now, poll: 10 * time.Millisecond}
	code = c.main(ctx, args)
	return code, out.String(), errb.String()
}

func TestCommands(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(notDB, []byte("these are not the runs you are looking for\n"), 0o600))
	empty := filepath.Join(dir, "empty.db")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	truncated := filepath.Join(dir, "truncated.db")
	whole, err := os.ReadFile(f.db)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(truncated, whole[:len(whole)/2], 0o600))
	tampered := filepath.Join(dir, "tampered.jsonl")
	b, err := os.ReadFile(f.audit)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(tampered, bytes.Replace(b, []byte(`"outcome":"applied"`), []byte(`"outcome":"failed!"`), 1), 0o600))

	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		code       int
		out, notIn []string // substrings of stdout that must / must not appear
		errOut     []string // substrings of stderr
	}{
		{name: "no command is a usage error", args: nil, code: exitUsage, errOut: []string{"no command given", "usage:"}},
		{name: "unknown command is a usage error", args: []string{"frobnicate"}, code: exitUsage, errOut: []string{`unknown command "frobnicate"`}},
		{name: "unknown subcommand is a usage error", args: []string{"runs", "delete"}, code: exitUsage, errOut: []string{`runs: unknown subcommand "delete"`}},
		{name: "help prints the usage", args: []string{"help"}, code: exitOK, out: []string{"approvals list", "audit verify"}},
		{name: "without a database the tool says how to name one", args: []string{"runs", "list"}, code: exitUsage, errOut: []string{"give --db FILE or set IAMPLAYBOOK_DB"}},
		{name: "a missing database file is reported, not created", args: []string{"runs", "list", "--db", filepath.Join(dir, "nope.db")}, code: exitFail, errOut: []string{"nope.db does not exist"}},
		{name: "a directory is not a database", args: []string{"--db", dir, "runs", "list"}, code: exitFail, errOut: []string{"is a directory"}},
		{name: "a foreign file is refused as not an iamplaybook database", args: []string{"--db", notDB, "runs", "list"}, code: exitFail, errOut: []string{"notes.txt is not an iamplaybook database"}},
		{name: "an empty file is refused, not initialised", args: []string{"--db", empty, "approvals", "list"}, code: exitFail, errOut: []string{"empty.db is empty, not an iamplaybook database"}},
		{name: "a truncated database is reported as damaged", args: []string{"--db", truncated, "runs", "list"}, code: exitFail, errOut: []string{"database " + truncated + " is damaged", "truncated"}},
		{name: "IAMPLAYBOOK_DB names the database when --db is absent", env: map[string]string{envDB: f.db}, args: []string{"runs", "list"}, code: exitOK, out: []string{runDone, runWaiting}},
		{name: "runs list shows every run oldest first", args: []string{"runs", "list", "--db", f.db}, code: exitOK,
			out: []string{"RUN", runDone, "contained", "entra:ana", runWaiting, "waiting (approval pending)", runApproved}},
		{name: "runs list --state filters by state", args: []string{"--db", f.db, "runs", "list", "--state", "done"}, code: exitOK, out: []string{runDone}, notIn: []string{runWaiting, runApproved}},
		{name: "runs list --subject filters by subject", args: []string{"--db", f.db, "runs", "list", "--subject", "entra:gus"}, code: exitOK, out: []string{runWaiting}, notIn: []string{runDone, runOverdue}},
		{name: "runs list with nothing matching says so", args: []string{"--db", f.db, "runs", "list", "--state", "pending"}, code: exitOK, out: []string{"no runs"}},
		{name: "runs list refuses an unknown state", args: []string{"--db", f.db, "runs", "list", "--state", "finished"}, code: exitUsage, errOut: []string{`--state "finished" is not one of`}},
		{name: "runs list refuses a stray argument", args: []string{"--db", f.db, "runs", "list", "extra"}, code: exitUsage, errOut: []string{`unexpected argument "extra"`}},
		{name: "runs show prints the run and its step timeline", args: []string{"--db", f.db, "runs", "show", runDone}, code: exitOK,
			out: []string{"Run " + runDone, "done, outcome contained", "decision:  contain by rule high-risk-standard: disable-user, revoke-sessions",
				"contain/0/disable-user", "done", "250ms", "contain/1/revoke-sessions", "failed", "entra revoke-sessions: unavailable (status 503)"},
			notIn: []string{"Audit records"}},
		{name: "runs show accepts an approval id", args: []string{"--db", f.db, "runs", "show", playbook.ApprovalID(runWaiting)}, code: exitOK,
			out: []string{"Run " + runWaiting, "approval:  " + playbook.ApprovalID(runWaiting) + " pending", "the case approvers see:", "    Subject: gus@contoso.example", "(none journaled)"}},
		{name: "runs show --audit adds the run's verified records", args: []string{"--db", f.db, "runs", "show", runDone, "--audit", f.audit}, code: exitOK,
			out: []string{"chain verified", "action.intent", "action.result", "applied", "run.resolved"}},
		{name: "runs show --audit reports a trail that does not verify", args: []string{"--db", f.db, "runs", "show", "--audit", tampered, runDone}, code: exitFail,
			out: []string{"CHAIN DOES NOT VERIFY", "hash mismatch"}, errOut: []string{"does not verify"}},
		{name: "runs show names an unknown run", args: []string{"--db", f.db, "runs", "show", "no-such-run"}, code: exitFail, errOut: []string{`no run "no-such-run"`}},
		{name: "runs show needs a run id", args: []string{"--db", f.db, "runs", "show"}, code: exitUsage, errOut: []string{"missing RUN_ID"}},
		{name: "approvals list shows pending approvals, earliest deadline first", args: []string{"--db", f.db, "approvals", "list"}, code: exitOK,
			out: []string{playbook.ApprovalID(runOverdue), "overdue", playbook.ApprovalID(runWaiting), "disable-user,revoke-sessions"}, notIn: []string{runApproved, runDone}},
		{name: "audit verify accepts an intact trail", args: []string{"audit", "verify", f.audit}, code: exitOK, out: []string{"5 records, hash chain verified; head "}},
		{name: "audit verify names the broken line of a tampered trail", args: []string{"audit", "verify", tampered}, code: exitFail,
			errOut: []string{"NOT VERIFIED after 3 intact records", "line 4 (seq 4): hash mismatch", "if the trail is keyed, set IAMPLAYBOOK_AUDIT_KEY"}},
		{name: "audit verify checks an anchored head", args: []string{"audit", "verify", "--head", strings.Repeat("0", 64), f.audit}, code: exitFail, errOut: []string{"anchored head not found"}},
		{name: "audit verify reports a missing file", args: []string{"audit", "verify", filepath.Join(dir, "none.jsonl")}, code: exitFail, errOut: []string{"none.jsonl: no such file"}},
		{name: "audit verify refuses a key that is not hex, without echoing it", env: map[string]string{envAuditKey: "hunter2-secret"}, args: []string{"audit", "verify", f.audit},
			code: exitFail, errOut: []string{"IAMPLAYBOOK_AUDIT_KEY: the key is not hex"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := invoke(t.Context(), tc.env, tc.args...)
			assert.Equal(t, tc.code, code, "exit status; stdout:\n%s\nstderr:\n%s", out, errOut)
			for _, s := range tc.out {
				assert.Contains(t, out, s)
			}
			for _, s := range tc.notIn {
				assert.NotContains(t, out, s)
			}
			for _, s := range tc.errOut {
				assert.Contains(t, errOut, s)
			}
			assert.NotContains(t, errOut, "hunter2")
		})
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	db, err := sql.Open("sqlite", f.db)
	require.NoError(t, err)
	_, err = db.Exec(fmt.Sprintf("PRAGMA user_version = %d", sqlite.SchemaVersion+1))
	require.NoError(t, errors.Join(err, db.Close()))

	code, _, errOut := invoke(t.Context(), nil, "--db", f.db, "runs", "list")
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errOut, "was written by a newer version of iamplaybook")
}

func TestJSONOutput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()

	code, out, errOut := invoke(ctx, nil, "--db", f.db, "--json", "runs", "list", "--state", "waiting")
	require.Equal(t, exitOK, code, errOut)
	var runs []runSummary
	require.NoError(t, json.Unmarshal([]byte(out), &runs))
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	assert.Equal(t, []string{runWaiting, runOverdue, runVoted}, ids)
	assert.Equal(t, playbook.ApprovalPending, runs[0].Approval)

	code, out, errOut = invoke(ctx, nil, "runs", "show", runDone, "--db", f.db, "--audit", f.audit, "--json")
	require.Equal(t, exitOK, code, errOut)
	var d runDetail
	require.NoError(t, json.Unmarshal([]byte(out), &d))
	assert.Equal(t, playbook.OutcomeContained, d.Run.Outcome)
	require.Len(t, d.Steps, 4)
	assert.Equal(t, 2, d.Steps[2].Attempt)
	require.NotNil(t, d.Audit)
	assert.True(t, d.Audit.Verified)
	assert.Len(t, d.Audit.Records, 4, "the records of this run only")

	code, out, errOut = invoke(ctx, nil, "--json", "--db", f.db, "approvals", "list")
	require.Equal(t, exitOK, code, errOut)
	var apps []approvalSummary
	require.NoError(t, json.Unmarshal([]byte(out), &apps))
	require.Len(t, apps, 3)
	// Deadlines: overdue -1m, voted +2h, waiting +3h.
	assert.Equal(t, []string{playbook.ApprovalID(runOverdue), playbook.ApprovalID(runVoted), playbook.ApprovalID(runWaiting)},
		[]string{apps[0].ApprovalID, apps[1].ApprovalID, apps[2].ApprovalID})
	assert.Equal(t, []string{playbook.ActionDisableUser, playbook.ActionRevokeSessions}, apps[0].Actions)
	assert.Len(t, apps[1].Votes, 1, "the vote already counted on "+runVoted)
	assert.Empty(t, apps[2].Votes)

	code, out, errOut = invoke(ctx, nil, "--json", "audit", "verify", f.audit)
	require.Equal(t, exitOK, code, errOut)
	var vr verifyResult
	require.NoError(t, json.Unmarshal([]byte(out), &vr))
	assert.True(t, vr.Verified)
	assert.Equal(t, uint64(5), vr.Records)
	assert.Len(t, vr.LastHash, 64)
}

// TestVerdicts posts verdicts on the fixture's approvals and checks what
// reaches the store's inbox: a refused verdict never does.
func TestVerdicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		code   int
		errOut string
		out    string
		// queued is the verdict expected in the inbox, if any.
		queued *playbook.Verdict
	}{
		{name: "an approval by someone else is queued with channel cli", args: []string{"approve", runWaiting, "--by", lead, "--reason", "confirmed with Gus"}, code: exitOK,
			out:    "approved verdict by " + lead + " on " + playbook.ApprovalID(runWaiting) + " queued (inbox #",
			queued: &playbook.Verdict{ApprovalID: playbook.ApprovalID(runWaiting), Approver: lead, Approve: true, Reason: "confirmed with Gus", Channel: "cli", SummaryHash: "ab12"}},
		{name: "a denial with a reason is queued", args: []string{"deny", playbook.ApprovalID(runWaiting), "--by", lead, "--reason", "change CHG-1042"}, code: exitOK,
			queued: &playbook.Verdict{ApprovalID: playbook.ApprovalID(runWaiting), Approver: lead, Reason: "change CHG-1042", Channel: "cli", SummaryHash: "ab12"}},
		{name: "a denial needs a reason", args: []string{"deny", runWaiting, "--by", lead}, code: exitUsage, errOut: "deny: --reason is required"},
		{name: "a verdict needs --by", args: []string{"approve", runWaiting}, code: exitUsage, errOut: "--by NAME is required"},
		{name: "a verdict needs an id", args: []string{"approve", "--by", lead}, code: exitUsage, errOut: "approve: missing ID"},
		{name: "the subject may not approve, by login", args: []string{"approve", runWaiting, "--by", "GUS@contoso.example"}, code: exitFail, errOut: "is the subject of the case"},
		{name: "the subject may not approve, by another known identity", args: []string{"approve", runWaiting, "--by", "gus.admin@contoso.example"}, code: exitFail, errOut: "is the subject of the case"},
		{name: "the actor who caused the event may not approve", args: []string{"approve", runWaiting, "--by", itOps}, code: exitFail, errOut: "caused the event"},
		{name: "an unknown approval is refused", args: []string{"approve", "no-such-run", "--by", lead}, code: exitFail, errOut: `approval not found: no approval "no-such-run"`},
		{name: "a run without an approval is refused", args: []string{"approve", runDone, "--by", lead}, code: exitFail, errOut: "approval not found"},
		{name: "a decided approval is refused", args: []string{"deny", runApproved, "--by", "someone@contoso.example", "--reason", "late"}, code: exitFail,
			errOut: "approval already decided: " + playbook.ApprovalID(runApproved) + " is approved since"},
		{name: "an approval past its deadline is refused", args: []string{"approve", runOverdue, "--by", lead}, code: exitFail, errOut: "approval deadline has passed"},
		{name: "a second vote by the same approver is refused", args: []string{"approve", runVoted, "--by", "SecOps-Lead@contoso.example"}, code: exitFail, errOut: "has already voted"},
		{name: "a vote by another approver on a quorum request is queued", args: []string{"approve", runVoted, "--by", "ciso@contoso.example"}, code: exitOK,
			queued: &playbook.Verdict{ApprovalID: playbook.ApprovalID(runVoted), Approver: "ciso@contoso.example", Approve: true, Channel: "cli", SummaryHash: "ab12"}},
		{name: "--timeout must be positive", args: []string{"approve", runWaiting, "--by", lead, "--timeout", "0s"}, code: exitUsage, errOut: "--timeout must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			ctx := t.Context()
			before := time.Now().UTC()
			code, out, errOut := invoke(ctx, nil, append([]string{"--db", f.db}, tc.args...)...)
			assert.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			assert.Contains(t, errOut, tc.errOut)
			assert.Contains(t, out, tc.out)

			st, err := sqlite.Open(ctx, f.db, sqlite.Options{MustExist: true})
			require.NoError(t, err)
			defer st.Close()
			items, err := st.InboxVerdicts(ctx, 0)
			require.NoError(t, err)
			if tc.queued == nil {
				assert.Empty(t, items, "a refused verdict must not reach the inbox")
				return
			}
			require.Len(t, items, 1)
			got := items[0].Verdict
			assert.False(t, got.At.Before(before), "At is when the verdict was given")
			got.At = time.Time{}
			assert.Equal(t, *tc.queued, got)

			// The same approver again, before a runner applied the first.
			code, _, errOut = invoke(ctx, nil, append([]string{"--db", f.db}, tc.args...)...)
			assert.Equal(t, exitFail, code)
			assert.Contains(t, errOut, "already has a verdict on "+tc.queued.ApprovalID+" queued")
		})
	}
}

func TestKeyedAuditTrail(t *testing.T) {
	t.Parallel()
	key := []byte("a key only the auditors hold 0123")
	path := filepath.Join(t.TempDir(), "keyed.jsonl")
	trail, err := audit.OpenJSONL(path, audit.JSONLOptions{HMACKey: key})
	require.NoError(t, err)
	require.NoError(t, trail.Record(t.Context(), audit.Record{Time: time.Now().UTC(), Type: audit.TypeEventReceived, Actor: "system"}))
	require.NoError(t, trail.Close())

	tests := []struct {
		name   string
		env    string
		code   int
		out    string
		errOut string
	}{
		{name: "hex key", env: hex.EncodeToString(key), code: exitOK, out: "1 records, hash chain verified under the HMAC key"},
		{name: "base64 key", env: "base64:YSBrZXkgb25seSB0aGUgYXVkaXRvcnMgaG9sZCAwMTIz", code: exitOK, out: "verified under the HMAC key"},
		{name: "no key", env: "", code: exitFail, errOut: "set IAMPLAYBOOK_AUDIT_KEY"},
		{name: "wrong key", env: hex.EncodeToString([]byte("not the key")), code: exitFail, errOut: "hash mismatch"},
		{name: "bad base64", env: "base64:%%%", code: exitFail, errOut: "not valid standard base64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := invoke(t.Context(), map[string]string{envAuditKey: tc.env}, "audit", "verify", path)
			assert.Equal(t, tc.code, code, errOut)
			assert.Contains(t, out, tc.out)
			assert.Contains(t, errOut, tc.errOut)
			if tc.env != "" {
				assert.NotContains(t, errOut+out, strings.TrimPrefix(tc.env, "base64:"), "the key never appears in the output")
			}
		})
	}
}

// TestBinary builds the command and runs it as a separate process against
// a real database, the way an operator does.
func TestBinary(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	f := newFixture(t)
	bin := filepath.Join(t.TempDir(), "iamplaybook")
	out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)

	cmd := exec.CommandContext(t.Context(), bin, "--json", "approvals", "list")
	cmd.Env = append(os.Environ(), envDB+"="+f.db)
	out, err = cmd.Output()
	require.NoError(t, err)
	var apps []approvalSummary
	require.NoError(t, json.Unmarshal(out, &apps))
	assert.Len(t, apps, 3)

	cmd = exec.CommandContext(t.Context(), bin, "approve", runWaiting, "--db", f.db, "--by", gusLogin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, exitFail, ee.ExitCode())
	assert.Contains(t, stderr.String(), "is the subject of the case")
}
