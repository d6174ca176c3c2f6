package slackapprove_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	slackapprove "github.com/iamplaybook/iamplaybook/approve/slack"
	"github.com/iamplaybook/iamplaybook/approve/slack/slacktest"
	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// TestHandlerAuthenticatesRequests sends button presses that Slack did not
// sign, or signed too long ago, and one it did sign in time: only the
// latter may reach the runner.
func TestHandlerAuthenticatesRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// build returns the request for alice's press of Approve on m.
		build    func(t *testing.T, r *rig, m slacktest.Message) *http.Request
		wantCode int
		wantErr  error // the refusal the handler audits; nil for none
	}{
		{
			name: "signed now: recorded",
			build: func(t *testing.T, r *rig, m slacktest.Message) *http.Request {
				return r.click(m, alice, slackapprove.ActionApprove)
			},
			wantCode: http.StatusOK,
		},
		{
			name: "replayed inside the window: recorded",
			build: func(t *testing.T, r *rig, m slacktest.Message) *http.Request {
				req := r.click(m, alice, slackapprove.ActionApprove)
				time.Sleep(slackapprove.SignatureWindow - time.Second)
				return req
			},
			wantCode: http.StatusOK,
		},
		{
			name: "forged with another secret",
			build: func(t *testing.T, r *rig, m slacktest.Message) *http.Request {
				payload, err := r.srv.Click(m, alice, slackapprove.ActionApprove)
				require.NoError(t, err)
				req, err := slacktest.SignRequest("https://approvals.example/slack", "not-the-secret", time.Now(), payload)
				require.NoError(t, err)
				return req
			},
			wantCode: http.StatusUnauthorized,
			wantErr:  slackapprove.ErrBadSignature,
		},
		{
			name: "body changed after signing",
			build: func(t *testing.T, r *rig, m slacktest.Message) *http.Request {
				// A deny signed by Slack, turned into an approval.
				deny := r.click(m, alice, slackapprove.ActionDeny)
				payload, err := r.srv.Click(m, alice, slackapprove.ActionApprove)
				require.NoError(t, err)
				req := signed(t, payload, time.Now())
				req.Header.Set("X-Slack-Signature", deny.Header.Get("X-Slack-Signature"))
				return req
			},
			wantCode: http.StatusUnauthorized,
			wantErr:  slackapprove.ErrBadSignature,
		},
		{
			name: "no signature",
			build: func(t *testing.T, r *rig, m slacktest.Message) *http.Request {
				req := r.click(m, alice, slackapprove.ActionApprove)
				req.Header.Del("X-Slack-Signature")
				return req
			},
			wantCode: http.StatusUnauthorized,
			wantErr:  slackapprove.ErrBadSignature,
		},
		{
			name: "timestamp changed after signing",
			build: func(t *testing.T, r *rig, m slacktest.Message) *http.Request {
				req := r.click(m, alice, slackapprove.ActionApprove)
				time.Sleep(slackapprove.SignatureWindow + time.Minute)
				// A replayer freshens the timestamp; the signature no
				// longer matches.
				req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
				return req
			},
			wantCode: http.StatusUnauthorized,
			wantErr:  slackapprove.ErrBadSignature,
		},
		{
			name: "replayed outside the window",
			build: func(t *testing.T, r *rig, m slacktest.Message) *http.Request {
				req := r.click(m, alice, slackapprove.ActionApprove)
				time.Sleep(slackapprove.SignatureWindow + time.Second)
				return req
			},
			wantCode: http.StatusUnauthorized,
			wantErr:  slackapprove.ErrStaleRequest,
		},
		{
			name: "signed too far in the future",
			build: func(t *testing.T, r *rig, m slacktest.Message) *http.Request {
				payload, err := r.srv.Click(m, alice, slackapprove.ActionApprove)
				require.NoError(t, err)
				return signed(t, payload, time.Now().Add(slackapprove.SignatureWindow+time.Second))
			},
			wantCode: http.StatusUnauthorized,
			wantErr:  slackapprove.ErrStaleRequest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			synctest.Test(t, func(t *testing.T) {
				r := startRig(t, srv, rigOptions{})
				runID, m := r.fire("e1")
				rec := r.send(tt.build(t, r, m))
				require.Equal(t, tt.wantCode, rec.Code, rec.Body.String())

				run := r.run(runID)
				refusals := recordsOf(r.handlerTrail, audit.TypeVerdictRejected)
				if tt.wantErr == nil {
					require.Equal(t, playbook.ApprovalApproved, run.Approval.Status)
					require.Len(t, run.Approval.Verdicts, 1)
					v := run.Approval.Verdicts[0]
					assert.Equal(t, "alice@example.com", v.Approver, "the identity is the e-mail Slack vouches for, lower-cased")
					assert.Equal(t, "slack", v.Channel)
					assert.Equal(t, run.Approval.Request.SummaryHash, v.SummaryHash)
					assert.Contains(t, v.Reason, alice)
					assert.EqualValues(t, 1, r.contained.Load())
					assert.Contains(t, lastResponse(t, srv).Text, "Recorded")
					assert.Empty(t, refusals)
					return
				}
				assert.Equal(t, playbook.ApprovalPending, run.Approval.Status, "an unauthenticated press changes nothing")
				assert.Empty(t, run.Approval.Verdicts)
				assert.Zero(t, srv.Calls("users.info"), "nothing in an unauthenticated request is acted on")
				assert.Empty(t, srv.Responses(), "nothing is sent to an unauthenticated response_url")
				assert.Zero(t, r.contained.Load())
				require.Len(t, refusals, 1, "the refusal is audited")
				assert.Equal(t, "unauthenticated", refusals[0].Actor)
				assert.Contains(t, refusals[0].Error, tt.wantErr.Error())
				assert.NotContains(t, refusals[0].Error, signingSecret)
			})
		})
	}
}

// TestHandlerRefusedVerdicts presses buttons as people whose verdict must
// not count; each is told why, nothing is contained, and the refusal is
// audited by the handler (identity) or the runner (everything else).
func TestHandlerRefusedVerdicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rule playbook.VerdictEvaluator
		// press presses buttons on m and returns the last request sent.
		press      func(t *testing.T, r *rig, m slacktest.Message)
		wantTell   string // in the ephemeral answer
		byHandler  bool   // the handler (not the runner) refused and audited
		wantStatus playbook.ApprovalStatus
		wantVotes  int
	}{
		{
			name: "unknown Slack user",
			press: func(t *testing.T, r *rig, m slacktest.Message) {
				payload, err := r.srv.Click(m, alice, slackapprove.ActionApprove)
				require.NoError(t, err)
				r.send(signed(t, withUser(t, payload, "U0NOBODY", slacktest.TeamID), time.Now()))
			},
			wantTell: "does not exist", byHandler: true, wantStatus: playbook.ApprovalPending,
		},
		{
			name: "user without an e-mail address",
			press: func(t *testing.T, r *rig, m slacktest.Message) {
				r.send(r.click(m, noMail, slackapprove.ActionApprove))
			},
			wantTell: "no e-mail address", byHandler: true, wantStatus: playbook.ApprovalPending,
		},
		{
			name: "bot",
			press: func(t *testing.T, r *rig, m slacktest.Message) {
				r.send(r.click(m, botUser, slackapprove.ActionApprove))
			},
			wantTell: "is a bot", byHandler: true, wantStatus: playbook.ApprovalPending,
		},
		{
			name:     "guest",
			press:    func(t *testing.T, r *rig, m slacktest.Message) { r.send(r.click(m, guest, slackapprove.ActionApprove)) },
			wantTell: "is a guest", byHandler: true, wantStatus: playbook.ApprovalPending,
		},
		{
			name:     "deactivated account",
			press:    func(t *testing.T, r *rig, m slacktest.Message) { r.send(r.click(m, gone, slackapprove.ActionApprove)) },
			wantTell: "deactivated", byHandler: true, wantStatus: playbook.ApprovalPending,
		},
		{
			name: "member of another workspace",
			press: func(t *testing.T, r *rig, m slacktest.Message) {
				r.send(r.click(m, stranger, slackapprove.ActionApprove))
			},
			wantTell: "belongs to another workspace", byHandler: true, wantStatus: playbook.ApprovalPending,
		},
		{
			name: "a press from another workspace",
			press: func(t *testing.T, r *rig, m slacktest.Message) {
				payload, err := r.srv.Click(m, alice, slackapprove.ActionApprove)
				require.NoError(t, err)
				r.send(signed(t, withTeam(t, payload, "T0OTHER"), time.Now()))
			},
			wantTell: "not allowed to answer", byHandler: true, wantStatus: playbook.ApprovalPending,
		},
		{
			name:     "the subject approves their own case",
			press:    func(t *testing.T, r *rig, m slacktest.Message) { r.send(r.click(m, gus, slackapprove.ActionApprove)) },
			wantTell: "subject of the case", wantStatus: playbook.ApprovalPending,
		},
		{
			name: "the same press replayed inside the window: double vote",
			rule: twoApprovals{},
			press: func(t *testing.T, r *rig, m slacktest.Message) {
				req := r.click(m, alice, slackapprove.ActionApprove)
				body := readBody(t, req)
				r.send(rebuild(req, body))
				require.Contains(t, lastResponse(t, r.srv).Text, "Recorded")
				time.Sleep(time.Minute)
				r.send(rebuild(req, body))
			},
			wantTell: "already voted", wantStatus: playbook.ApprovalPending, wantVotes: 1,
		},
		{
			name: "a second press after the request was decided",
			press: func(t *testing.T, r *rig, m slacktest.Message) {
				r.send(r.click(m, bob, slackapprove.ActionDeny))
				r.send(r.click(m, alice, slackapprove.ActionApprove))
			},
			wantTell: "is denied", wantStatus: playbook.ApprovalDenied, wantVotes: 1,
		},
		{
			name: "a press after the deadline",
			press: func(t *testing.T, r *rig, m slacktest.Message) {
				time.Sleep(time.Hour + time.Minute)
				r.settle()
				r.send(r.click(m, alice, slackapprove.ActionApprove))
			},
			wantTell: "is expired", wantStatus: playbook.ApprovalExpired,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			synctest.Test(t, func(t *testing.T) {
				r := startRig(t, srv, rigOptions{rule: tt.rule})
				runID, m := r.fire("e1")
				tt.press(t, r, m)

				resp := lastResponse(t, srv)
				assert.Equal(t, "ephemeral", resp.ResponseType, "only the person who pressed sees the answer")
				assert.Contains(t, resp.Text, "NOT recorded", "a refusal is never shown as a success")
				assert.Contains(t, resp.Text, tt.wantTell)
				assert.Equal(t, m.TS, resp.MessageTS)

				run := r.run(runID)
				assert.Equal(t, tt.wantStatus, run.Approval.Status)
				assert.Len(t, run.Approval.Verdicts, tt.wantVotes)
				assert.Zero(t, r.contained.Load(), "nothing was contained")
				if tt.byHandler {
					refusals := recordsOf(r.handlerTrail, audit.TypeVerdictRejected)
					require.Len(t, refusals, 1, "the handler audits the refusal")
					assert.Contains(t, refusals[0].Error, tt.wantTell)
					assert.Equal(t, run.Approval.Request.ID, refusals[0].Data["approval_id"])
					assert.Empty(t, recordsOf(r.trail, audit.TypeVerdictRejected), "the runner never saw it")
				} else {
					refusals := recordsOf(r.trail, audit.TypeVerdictRejected)
					require.Len(t, refusals, 1, "the runner audits the refusal")
					assert.Contains(t, refusals[0].Error, tt.wantTell)
					assert.Equal(t, "slack", refusals[0].Data["channel"])
				}
			})
		})
	}
}

func readBody(t *testing.T, req *http.Request) []byte {
	t.Helper()
	var b bytes.Buffer
	_, err := b.ReadFrom(req.Body)
	require.NoError(t, err)
	return b.Bytes()
}

// rebuild returns a copy of req with body, as a replayer would send it.
func rebuild(req *http.Request, body []byte) *http.Request {
	out := req.Clone(req.Context())
	out.Body = http.NoBody
	if len(body) > 0 {
		out.Body = nopCloser{bytes.NewReader(body)}
	}
	return out
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// TestHandlerMalformedRequests checks the answers to requests that are not
// button presses of ours.
func TestHandlerMalformedRequests(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("a"), slackapprove.DefaultMaxBody+1)
	tests := []struct {
		name     string
		req      func(t *testing.T) *http.Request
		wantCode int
		audited  bool
	}{
		{name: "GET", wantCode: http.StatusMethodNotAllowed, req: func(t *testing.T) *http.Request {
			r := signed(t, []byte(`{}`), time.Now())
			r.Method = http.MethodGet
			return r
		}},
		{name: "body too large", wantCode: http.StatusRequestEntityTooLarge, audited: true,
			req: func(t *testing.T) *http.Request { return signed(t, big, time.Now()) }},
		{name: "signed, but not JSON", wantCode: http.StatusBadRequest, audited: true,
			req: func(t *testing.T) *http.Request { return signed(t, []byte(`{"type":`), time.Now()) }},
		{name: "signed, our button without a value", wantCode: http.StatusBadRequest, audited: true,
			req: func(t *testing.T) *http.Request {
				return signed(t, []byte(`{"type":"block_actions","user":{"id":"U0ALICE"},"actions":[{"type":"button","block_id":"iamplaybook.approval","action_id":"iamplaybook.approve","value":"x"}]}`), time.Now())
			}},
		{name: "signed, another app feature", wantCode: http.StatusOK,
			req: func(t *testing.T) *http.Request {
				return signed(t, []byte(`{"type":"view_submission","user":{"id":"U0ALICE"}}`), time.Now())
			}},
		{name: "signed, another button", wantCode: http.StatusOK,
			req: func(t *testing.T) *http.Request {
				return signed(t, []byte(`{"type":"block_actions","user":{"id":"U0ALICE"},"actions":[{"type":"button","block_id":"b","action_id":"other","value":"x"}]}`), time.Now())
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			trail := audit.NewMemory()
			ap, err := slackapprove.New(config(srv, trail))
			require.NoError(t, err)
			rec := httptest.NewRecorder()
			ap.Handler().ServeHTTP(rec, tt.req(t))
			assert.Equal(t, tt.wantCode, rec.Code)
			assert.Zero(t, srv.Calls("users.info"), "nothing is looked up")
			assert.Empty(t, srv.Responses())
			if tt.audited {
				assert.Len(t, recordsOf(trail, audit.TypeVerdictRejected), 1)
			} else {
				assert.Empty(t, trail.Records())
			}
		})
	}
}

// TestHandlerUnbound: a press before Bind is answered as not recorded.
func TestHandlerUnbound(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ap, err := slackapprove.New(config(srv, nil))
	require.NoError(t, err)
	require.NoError(t, ap.Request(t.Context(), playbook.ApprovalRequest{ID: "run-1:approval", Summary: "s", Deadline: time.Now().Add(time.Hour)}))
	payload, err := srv.Click(srv.Messages()[0], alice, slackapprove.ActionApprove)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	ap.Handler().ServeHTTP(rec, signed(t, payload, time.Now()))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, lastResponse(t, srv).Text, "NOT recorded")
	assert.Zero(t, srv.Calls("users.info"))
}
