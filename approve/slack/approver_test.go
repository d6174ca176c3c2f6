package slackapprove_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	slackapprove "github.com/iamplaybook/iamplaybook/approve/slack"
	"github.com/iamplaybook/iamplaybook/approve/slack/slacktest"
	"github.com/iamplaybook/iamplaybook/playbook"
)

func request(id string) playbook.ApprovalRequest {
	return playbook.ApprovalRequest{
		ID: id, RunID: strings.TrimSuffix(id, ":approval"),
		Subject:  playbook.Subject{Provider: "entra", ID: "0c1d", Login: "gus@example.com"},
		Risk:     playbook.RiskHigh,
		Decision: playbook.Decision{Response: playbook.RespondApprove, Rule: "high-risk-admin", Steps: []playbook.Step{{Action: "disable-user"}, {Action: "remove-role", Params: map[string]string{"role": "Global Administrator"}}}},
		Summary:  "Risky sign-in by gus@example.com <!channel> from 203.0.113.7\nGlobal Administrator",
		// The summary hash is the runner's business; any value travels.
		SummaryHash: "5f0c",
		Deadline:    time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC),
	}
}

// blocksOf decodes a message's blocks.
func blocksOf(t *testing.T, m slacktest.Message) []map[string]any {
	t.Helper()
	var out []map[string]any
	require.NoError(t, json.Unmarshal(m.Blocks, &out))
	return out
}

// buttons returns the action ids of a message's buttons.
func buttons(t *testing.T, m slacktest.Message) []string {
	t.Helper()
	var ids []string
	for _, b := range blocksOf(t, m) {
		if b["type"] != "actions" {
			continue
		}
		for _, el := range b["elements"].([]any) {
			ids = append(ids, el.(map[string]any)["action_id"].(string))
		}
	}
	return ids
}

func TestRequestPostsInteractiveMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		channel      string
		people       []string
		wantChannels []string
	}{
		{name: "channel", channel: secopsChannel, wantChannels: []string{secopsChannel}},
		{name: "direct messages", people: []string{"alice@example.com", "BOB@example.com"}, wantChannels: []string{"D0ALICE", "D0BOB"}},
		{name: "both", channel: secopsChannel, people: []string{"bob@example.com"}, wantChannels: []string{secopsChannel, "D0BOB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			cfg := config(srv, nil)
			cfg.Channel, cfg.People = tt.channel, tt.people
			ap, err := slackapprove.New(cfg)
			require.NoError(t, err)

			req := request("run-1:approval")
			require.NoError(t, ap.Request(t.Context(), req))
			require.NoError(t, ap.Request(t.Context(), req), "a repeated request posts nothing")

			msgs := srv.Messages()
			var got []string
			for _, m := range msgs {
				got = append(got, m.Channel)
				assert.Equal(t, []string{slackapprove.ActionApprove, slackapprove.ActionDeny}, buttons(t, m))
				assert.Contains(t, m.Text, "gus@example.com", "the notification names the subject")
				blocks := string(m.Blocks)
				assert.Contains(t, blocks, "Global Administrator")
				assert.Contains(t, blocks, "2026-12-04T12:00:00Z", "the deadline is shown")
				assert.Contains(t, blocks, `"type":"plain_text","text":"Risky sign-in`, "case text is plain text, never markup")
				assert.NotContains(t, blocks, `"mrkdwn"`)
			}
			assert.Equal(t, tt.wantChannels, got)
			assert.Equal(t, len(tt.people), srv.Calls("users.lookupByEmail"))
		})
	}
}

func TestRequestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		setup    func(srv *slacktest.Server, cfg *slackapprove.Config)
		wantErr  error
		wantCode string
	}{
		{name: "unknown channel", wantErr: playbook.ErrNotFound, wantCode: "channel_not_found",
			setup: func(srv *slacktest.Server, cfg *slackapprove.Config) { cfg.Channel = "C0NOWHERE" }},
		{name: "unknown person", wantErr: playbook.ErrNotFound, wantCode: "users_not_found",
			setup: func(srv *slacktest.Server, cfg *slackapprove.Config) {
				cfg.Channel, cfg.People = "", []string{"nobody@example.com"}
			}},
		{name: "revoked token", wantErr: playbook.ErrUnauthenticated, wantCode: "invalid_auth",
			setup: func(srv *slacktest.Server, cfg *slackapprove.Config) {
				cfg.Client = slack.New("xoxb-revoked", slack.OptionAPIURL(srv.APIURL()), slack.OptionHTTPClient(srv.HTTPClient()))
			}},
		{name: "missing scope", wantErr: playbook.ErrPermissionDenied, wantCode: "missing_scope",
			setup: func(srv *slacktest.Server, cfg *slackapprove.Config) { srv.Fail("chat.postMessage", "missing_scope") }},
		{name: "Slack is down", wantErr: playbook.ErrUnavailable, wantCode: "internal_error",
			setup: func(srv *slacktest.Server, cfg *slackapprove.Config) { srv.Fail("chat.postMessage", "internal_error") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			cfg := config(srv, nil)
			tt.setup(srv, &cfg)
			ap, err := slackapprove.New(cfg)
			require.NoError(t, err)
			err = ap.Request(t.Context(), request("run-1:approval"))
			require.ErrorIs(t, err, tt.wantErr)
			var pe *playbook.ProviderError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "slack", pe.Provider)
			assert.Equal(t, tt.wantCode, pe.Code)
			assert.Contains(t, err.Error(), "run-1:approval")
			assert.NotContains(t, err.Error(), botToken)
			assert.Empty(t, srv.Messages())

			if tt.name == "missing scope" || tt.name == "Slack is down" {
				require.NoError(t, ap.Request(t.Context(), request("run-1:approval")), "a repeated request retries what failed")
				assert.Len(t, srv.Messages(), 1)
			}
		})
	}
}

// TestRateLimitsAreWaitedOut: a 429 from Slack is retried after the
// Retry-After it names, on the fake clock; a wait longer than allowed, or
// more 429s than retries, fails the call with ErrThrottled.
func TestRateLimitsAreWaitedOut(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		throttles  int
		retryAfter time.Duration
		maxWait    time.Duration
		ctxTimeout time.Duration
		wantErr    error
		wantWaited time.Duration
		wantCalls  int
	}{
		{name: "one 429", throttles: 1, retryAfter: 30 * time.Second, wantWaited: 30 * time.Second, wantCalls: 2},
		{name: "three 429s", throttles: 3, retryAfter: 7 * time.Second, wantWaited: 21 * time.Second, wantCalls: 4},
		{name: "more 429s than retries", throttles: 4, retryAfter: time.Second, wantErr: playbook.ErrThrottled, wantWaited: 3 * time.Second, wantCalls: 4},
		{name: "Retry-After beyond the longest wait", throttles: 1, retryAfter: 10 * time.Minute, wantErr: playbook.ErrThrottled, wantCalls: 1},
		{name: "ctx ends while waiting", throttles: 1, retryAfter: 50 * time.Second, maxWait: time.Hour, ctxTimeout: 20 * time.Second,
			wantErr: context.DeadlineExceeded, wantWaited: 20 * time.Second, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			synctest.Test(t, func(t *testing.T) {
				cfg := config(srv, nil)
				cfg.MaxRetryWait = tt.maxWait
				ap, err := slackapprove.New(cfg)
				require.NoError(t, err)
				srv.Throttle("chat.postMessage", tt.throttles, tt.retryAfter)
				ctx := t.Context()
				if tt.ctxTimeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
					defer cancel()
				}
				start := time.Now()
				err = ap.Request(ctx, request("run-1:approval"))
				assert.Equal(t, tt.wantWaited, time.Since(start), "waited on the fake clock")
				assert.Equal(t, tt.wantCalls, srv.Calls("chat.postMessage"))
				if tt.wantErr != nil {
					require.ErrorIs(t, err, tt.wantErr)
					assert.Empty(t, srv.Messages())
					return
				}
				require.NoError(t, err)
				assert.Len(t, srv.Messages(), 1)
			})
		})
	}
}

// TestRateLimitedIdentityLookup: a button press whose users.info is
// throttled is still recorded once Slack lets the lookup through.
func TestRateLimitedIdentityLookup(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, srv, rigOptions{})
		runID, m := r.fire("e1")
		srv.Throttle("users.info", 2, 3*time.Second)
		start := time.Now()
		rec := r.send(r.click(m, alice, slackapprove.ActionApprove))
		assert.Equal(t, 200, rec.Code)
		assert.Equal(t, 6*time.Second, time.Since(start))
		assert.Equal(t, 3, srv.Calls("users.info"))
		assert.Equal(t, playbook.ApprovalApproved, r.run(runID).Approval.Status)
	})
}

// TestMessageShowsOutcome: once a request is settled, its message is
// replaced by the outcome and who decided, without buttons.
func TestMessageShowsOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		rule  playbook.VerdictEvaluator
		act   func(t *testing.T, r *rig, m slacktest.Message)
		want  []string
		state playbook.ApprovalStatus
	}{
		{name: "approved", state: playbook.ApprovalApproved,
			act:  func(t *testing.T, r *rig, m slacktest.Message) { r.send(r.click(m, alice, slackapprove.ActionApprove)) },
			want: []string{"Approved", "Approved by alice@example.com.", "alice@example.com approved at", "via slack"}},
		{name: "approved by a quorum of two", state: playbook.ApprovalApproved, rule: twoApprovals{},
			act: func(t *testing.T, r *rig, m slacktest.Message) {
				r.send(r.click(m, alice, slackapprove.ActionApprove))
				require.Zero(t, r.srv.Messages()[0].Edits, "one vote of two changes nothing")
				r.send(r.click(m, bob, slackapprove.ActionApprove))
			},
			want: []string{"Approved by alice@example.com, bob@example.com."}},
		{name: "denied", state: playbook.ApprovalDenied,
			act:  func(t *testing.T, r *rig, m slacktest.Message) { r.send(r.click(m, bob, slackapprove.ActionDeny)) },
			want: []string{"Denied", "Denied by bob@example.com.", "escalated"}},
		{name: "expired", state: playbook.ApprovalExpired,
			act: func(t *testing.T, r *rig, m slacktest.Message) {
				time.Sleep(time.Hour)
				r.settle()
			},
			want: []string{"Expired", "Nobody decided before"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			synctest.Test(t, func(t *testing.T) {
				r := startRig(t, srv, rigOptions{rule: tt.rule})
				runID, m := r.fire("e1")
				tt.act(t, r, m)
				assert.Equal(t, tt.state, r.run(runID).Approval.Status)

				var updated slacktest.Message
				for _, x := range srv.Messages() {
					if x.TS == m.TS {
						updated = x
					}
				}
				assert.Equal(t, 1, updated.Edits, "the request message was updated once")
				assert.Empty(t, buttons(t, updated), "no buttons are left to press")
				text := string(updated.Blocks) + updated.Text
				for _, w := range tt.want {
					assert.Contains(t, text, w)
				}
				assert.Contains(t, text, "gus@example.com", "the case is still shown")
			})
		})
	}
}

// TestFollowReminderAndEscalation checks reminders (threaded replies),
// escalation to the next tier (a new interactive message there) and that
// a repeated notice posts nothing.
func TestFollowReminderAndEscalation(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 4, 11, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		notice  playbook.ApprovalNotice
		wantErr string
		check   func(t *testing.T, request slacktest.Message, added []slacktest.Message)
	}{
		{name: "reminder", notice: playbook.ApprovalNotice{Kind: playbook.NoticeReminder, Status: playbook.ApprovalPending, At: at},
			check: func(t *testing.T, request slacktest.Message, added []slacktest.Message) {
				require.Len(t, added, 1)
				assert.Equal(t, request.TS, added[0].ThreadTS, "the reminder is a reply in the request's thread")
				assert.Contains(t, added[0].Text, "still needs a verdict")
			}},
		{name: "escalation to tier 1", notice: playbook.ApprovalNotice{Kind: playbook.NoticeEscalation, Tier: 1, Status: playbook.ApprovalPending, At: at},
			check: func(t *testing.T, request slacktest.Message, added []slacktest.Message) {
				require.Len(t, added, 1)
				assert.Equal(t, leadsChannel, added[0].Channel)
				assert.Equal(t, []string{slackapprove.ActionApprove, slackapprove.ActionDeny}, buttons(t, added[0]))
				assert.Contains(t, string(added[0].Blocks), "Escalated to you (tier 1)")
			}},
		{name: "escalation to a tier that is not configured", notice: playbook.ApprovalNotice{Kind: playbook.NoticeEscalation, Tier: 2, At: at},
			wantErr: "tier 2"},
		{name: "unknown kind", notice: playbook.ApprovalNotice{Kind: "party", At: at}, wantErr: `unknown notice kind "party"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			ap, err := slackapprove.New(config(srv, nil))
			require.NoError(t, err)
			req := request("run-1:approval")
			require.NoError(t, ap.Request(t.Context(), req))
			first := srv.Messages()[0]
			tt.notice.Request = req
			err = ap.Follow(t.Context(), tt.notice)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Len(t, srv.Messages(), 1)
				return
			}
			require.NoError(t, err)
			require.NoError(t, ap.Follow(t.Context(), tt.notice), "a repeated notice is handled once")
			tt.check(t, first, srv.Messages()[1:])

			// Settling updates every request message, escalated ones too.
			require.NoError(t, ap.Follow(t.Context(), playbook.ApprovalNotice{Kind: playbook.NoticeSettled, Request: req,
				Status: playbook.ApprovalDenied, Verdicts: []playbook.Verdict{{Approver: "bob@example.com", Channel: "web", At: at}}}))
			for _, m := range srv.Messages() {
				if m.ThreadTS == "" {
					assert.Equal(t, 1, m.Edits, "message in %s updated", m.Channel)
					assert.Empty(t, buttons(t, m))
				}
			}
		})
	}
}

// TestSettledWithoutKnownMessages: after a restart the approver no longer
// knows its messages; the outcome is posted anew rather than lost.
func TestSettledWithoutKnownMessages(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ap, err := slackapprove.New(config(srv, nil))
	require.NoError(t, err)
	n := playbook.ApprovalNotice{Kind: playbook.NoticeSettled, Request: request("run-9:approval"), Status: playbook.ApprovalExpired}
	require.NoError(t, ap.Follow(t.Context(), n))
	require.NoError(t, ap.Follow(t.Context(), n))
	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	assert.Contains(t, msgs[0].Text, "Expired")
	assert.Empty(t, buttons(t, msgs[0]))
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	tests := []struct {
		name    string
		mutate  func(c *slackapprove.Config)
		wantErr string
	}{
		{name: "no client", mutate: func(c *slackapprove.Config) { c.Client = nil }, wantErr: "Config.Client"},
		{name: "no secret", mutate: func(c *slackapprove.Config) { c.SigningSecret = "" }, wantErr: "Config.SigningSecret"},
		{name: "nobody to ask", mutate: func(c *slackapprove.Config) { c.Channel = "" }, wantErr: "names no channel and no people"},
		{name: "bad e-mail", mutate: func(c *slackapprove.Config) { c.People = []string{"alice"} }, wantErr: `People[0] "alice"`},
		{name: "empty tier", mutate: func(c *slackapprove.Config) { c.Escalation = []slackapprove.Target{{}} }, wantErr: "Config.Escalation[0]"},
		{name: "negative wait", mutate: func(c *slackapprove.Config) { c.MaxRetryWait = -time.Second }, wantErr: "Config.MaxRetryWait"},
		{name: "relative response URL prefix", mutate: func(c *slackapprove.Config) { c.ResponseURLPrefixes = []string{"/hooks/"} }, wantErr: "Config.ResponseURLPrefixes[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := config(srv, nil)
			tt.mutate(&cfg)
			_, err := slackapprove.New(cfg)
			require.ErrorContains(t, err, tt.wantErr)
			assert.NotContains(t, err.Error(), signingSecret)
		})
	}
	_, err := slackapprove.New(config(srv, nil))
	require.NoError(t, err, "the base configuration is valid")
}

// scheduled is an approval rule with reminders and one escalation tier:
// the first verdict decides.
type scheduled struct{}

func (scheduled) Evaluate(req playbook.ApprovalRequest, prior []playbook.Verdict, v playbook.Verdict) (playbook.ApprovalStatus, error) {
	if v.Approve {
		return playbook.ApprovalApproved, nil
	}
	return playbook.ApprovalDenied, nil
}

func (scheduled) ApprovalSchedule(d playbook.Decision) (playbook.ApprovalSchedule, error) {
	return playbook.ApprovalSchedule{Timeout: time.Hour, RemindEvery: 20 * time.Minute, Escalations: []time.Duration{30 * time.Minute}}, nil
}

// TestRunnerRemindsAndEscalates runs the schedule on a real runner and the
// fake clock: a reminder in the request's thread after 20 minutes, the
// request posted to the leads' channel after 30, a lead approving from
// there, and every request message showing the outcome.
func TestRunnerRemindsAndEscalates(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, srv, rigOptions{rule: scheduled{}})
		runID, m := r.fire("e1")

		time.Sleep(20*time.Minute + time.Second)
		r.settle()
		msgs := srv.Messages()
		require.Len(t, msgs, 2)
		assert.Equal(t, m.TS, msgs[1].ThreadTS, "the reminder is a reply in the request's thread")

		time.Sleep(10 * time.Minute)
		r.settle()
		var escalated slacktest.Message
		for _, x := range srv.Messages() {
			if x.Channel == leadsChannel {
				escalated = x
			}
		}
		require.NotEmpty(t, escalated.TS, "the leads were sent the request")
		assert.Equal(t, []string{slackapprove.ActionApprove, slackapprove.ActionDeny}, buttons(t, escalated))

		rec := r.send(r.click(escalated, bob, slackapprove.ActionApprove))
		assert.Equal(t, 200, rec.Code)
		assert.Equal(t, playbook.ApprovalApproved, r.run(runID).Approval.Status)
		assert.EqualValues(t, 1, r.contained.Load())
		for _, x := range srv.Messages() {
			if x.ThreadTS != "" {
				continue
			}
			assert.Equal(t, 1, x.Edits, "request message in %s shows the outcome", x.Channel)
			assert.Contains(t, string(x.Blocks), "Approved by bob@example.com.")
		}
	})
}
