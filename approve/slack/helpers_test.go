package slackapprove_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	slackapprove "github.com/iamplaybook/iamplaybook/approve/slack"
	"github.com/iamplaybook/iamplaybook/approve/slack/slacktest"
	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store"
)

const (
	botToken      = "xoxb-emulated-bot-token"
	signingSecret = "emulated-signing-secret-0123456789"
	secopsChannel = "C0SECOPS"
	leadsChannel  = "C0LEADS"
)

// Members of the emulated workspace.
const (
	alice    = "U0ALICE"  // a security analyst
	bob      = "U0BOB"    // a security lead
	gus      = "U0GUS"    // the subject of the case
	noMail   = "U0NOMAIL" // a member whose e-mail Slack does not show
	botUser  = "U0BOT"
	guest    = "U0GUEST"
	gone     = "U0GONE" // deactivated
	stranger = "U0STRANGER"
)

// newServer starts an emulated Slack with the members and channels the
// tests use. It is created outside any synctest bubble: its listener
// belongs to no bubble, and the clients the tests use reach it in-process.
func newServer(t *testing.T) *slacktest.Server {
	t.Helper()
	srv := slacktest.NewServer(botToken)
	t.Cleanup(srv.Close)
	for _, u := range []slacktest.User{
		{ID: alice, Name: "alice", Email: "Alice@Example.com"},
		{ID: bob, Name: "bob", Email: "bob@example.com"},
		{ID: gus, Name: "gus", Email: "gus@example.com"},
		{ID: noMail, Name: "nomail"},
		{ID: botUser, Name: "helper-bot", Email: "bot@example.com", IsBot: true},
		{ID: guest, Name: "contractor", Email: "contractor@partner.example", IsRestricted: true},
		{ID: gone, Name: "former", Email: "former@example.com", Deleted: true},
		{ID: stranger, Name: "outsider", Email: "outsider@other.example", TeamID: "T0OTHER", IsStranger: true},
	} {
		srv.AddUser(u)
	}
	srv.AddChannel(secopsChannel)
	srv.AddChannel(leadsChannel)
	return srv
}

// discard is a logger for the parts under test; failures show in
// assertions, not logs.
var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// config returns the approver configuration the tests start from.
func config(srv *slacktest.Server, handlerAudit audit.Sink) slackapprove.Config {
	return slackapprove.Config{
		Client:              srv.Client(),
		SigningSecret:       signingSecret,
		Channel:             secopsChannel,
		Escalation:          []slackapprove.Target{{Channel: leadsChannel}},
		TeamID:              slacktest.TeamID,
		Audit:               handlerAudit,
		Logger:              discard,
		ResponseURLPrefixes: []string{srv.URL()},
	}
}

// twoApprovals settles a request with two approvals or one denial.
type twoApprovals struct{}

func (twoApprovals) Evaluate(req playbook.ApprovalRequest, prior []playbook.Verdict, v playbook.Verdict) (playbook.ApprovalStatus, error) {
	if !v.Approve {
		return playbook.ApprovalDenied, nil
	}
	if len(prior) >= 1 {
		return playbook.ApprovalApproved, nil
	}
	return playbook.ApprovalPending, nil
}

// rig is a real runner with an in-memory store whose approver is the Slack
// channel under test. It must be built inside a synctest bubble.
type rig struct {
	t            *testing.T
	srv          *slacktest.Server
	ap           *slackapprove.Approver
	runner       *playbook.Runner
	trail        *audit.Memory // the runner's audit trail
	handlerTrail *audit.Memory // refusals made by the Slack handler
	contained    atomic.Int32
}

type rigOptions struct {
	rule   playbook.VerdictEvaluator
	config func(*slackapprove.Config)
}

func startRig(t *testing.T, srv *slacktest.Server, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, srv: srv, trail: audit.NewMemory(), handlerTrail: audit.NewMemory()}
	cfg := config(srv, r.handlerTrail)
	if o.config != nil {
		o.config(&cfg)
	}
	ap, err := slackapprove.New(cfg)
	require.NoError(t, err)
	r.ap = ap
	pb := playbook.Playbook{
		Name: "slack-approval",
		Policy: playbook.PolicyFunc(func(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
			return playbook.Decision{Response: playbook.RespondApprove, Rule: "high-risk-admin",
				Reason: "privileged account at high risk", Steps: []playbook.Step{{Action: playbook.ActionDisableUser}}}, nil
		}),
		Actions: map[string]playbook.Action{playbook.ActionDisableUser: playbook.ActionFunc(playbook.ActionDisableUser,
			func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
				r.contained.Add(1)
				return playbook.ActionResult{Status: playbook.StatusApplied}, nil
			})},
		Approver:        ap,
		ApprovalRule:    o.rule,
		ApprovalTimeout: time.Hour,
		Audit:           []playbook.AuditSink{r.trail},
	}
	runner, err := playbook.NewRunner(pb, playbook.Options{Store: store.NewMemory(), Logger: discard})
	require.NoError(t, err)
	r.runner = runner
	ap.Bind(runner)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner did not stop cleanly: %v", err)
		}
	})
	<-runner.Ready()
	return r
}

// fire hands in a high-risk event about gus and returns the run id and the
// request message posted to the security channel.
func (r *rig) fire(id string) (string, slacktest.Message) {
	r.t.Helper()
	runID, err := r.runner.Handle(context.Background(), playbook.Event{
		ID: id, Type: playbook.EventRiskySignIn, Source: "test", Risk: playbook.RiskHigh, Actor: "attacker@evil.example",
		Subject: playbook.Subject{Provider: "fake", ID: "gus-id", Login: "gus@example.com", DisplayName: "Gus"},
	})
	require.NoError(r.t, err)
	r.settle()
	for _, m := range r.srv.Messages() {
		if m.Channel == secopsChannel && m.ThreadTS == "" && strings.Contains(string(m.Blocks), runID+":approval") {
			return runID, m
		}
	}
	r.t.Fatalf("no request message for run %s in %v", runID, r.srv.Messages())
	return "", slacktest.Message{}
}

// settle waits until the runner is idle and every goroutine of the bubble
// is blocked.
func (r *rig) settle() {
	r.t.Helper()
	require.NoError(r.t, r.runner.WaitIdle(context.Background()))
	synctest.Wait()
}

// run returns the stored run.
func (r *rig) run(id string) playbook.Run {
	r.t.Helper()
	run, err := r.runner.Store().GetRun(context.Background(), id)
	require.NoError(r.t, err)
	return run
}

// send hands a request to the Slack handler and waits for its effects.
func (r *rig) send(req *http.Request) *httptest.ResponseRecorder {
	r.t.Helper()
	rec := httptest.NewRecorder()
	r.ap.Handler().ServeHTTP(rec, req)
	r.settle()
	return rec
}

// click builds the signed request Slack sends when user presses action on
// m, signed now.
func (r *rig) click(m slacktest.Message, user, action string) *http.Request {
	r.t.Helper()
	payload, err := r.srv.Click(m, user, action)
	require.NoError(r.t, err)
	return signed(r.t, payload, time.Now())
}

func signed(t *testing.T, payload []byte, at time.Time) *http.Request {
	t.Helper()
	req, err := slacktest.SignRequest("https://approvals.example/slack/interactions", signingSecret, at, payload)
	require.NoError(t, err)
	return req
}

// withUser rewrites the user of a payload, as Slack would send for
// another person.
func withUser(t *testing.T, payload []byte, id, team string) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(payload, &m))
	m["user"] = map[string]any{"id": id, "username": "x", "name": "x", "team_id": team}
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}

// withTeam rewrites the workspace a payload comes from.
func withTeam(t *testing.T, payload []byte, team string) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(payload, &m))
	m["team"] = map[string]any{"id": team, "domain": "other"}
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}

// lastResponse returns the text of the last ephemeral answer sent.
func lastResponse(t *testing.T, srv *slacktest.Server) slacktest.Response {
	t.Helper()
	rs := srv.Responses()
	require.NotEmpty(t, rs, "the person was told nothing")
	return rs[len(rs)-1]
}

// recordsOf returns the records of the given type.
func recordsOf(m *audit.Memory, typ audit.Type) []audit.Record {
	return slices.DeleteFunc(m.Records(), func(r audit.Record) bool { return r.Type != typ })
}
