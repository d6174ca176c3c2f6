package killtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// ProviderName is the Subject.Provider of the events of this package.
const ProviderName = "killtest"

// AttrApproval is the event attribute that makes the playbook ask for an
// approval before containing ("yes").
const AttrApproval = "needs-approval"

// Actions are the containment steps of a high-risk event, in order.
var Actions = []string{playbook.ActionDisableUser, playbook.ActionRevokeSessions}

// Events returns n events with ids "ev-00000", "ev-00001", ...: six in ten
// are high risk (contained by two steps; for one of the six, the one
// whose id ends in 5, only after an approval), two medium (monitoring),
// two low (logged). Subjects repeat every 250 events, so that runs about
// one subject queue behind each other.
func Events(n int) []playbook.Event {
	out := make([]playbook.Event, n)
	for i := range out {
		risk := playbook.RiskHigh
		var attrs map[string]string
		switch i % 10 {
		case 5:
			attrs = map[string]string{AttrApproval: "yes"}
		case 6, 7:
			risk = playbook.RiskMedium
		case 8, 9:
			risk = playbook.RiskLow
		}
		user := fmt.Sprintf("u-%03d", i%250)
		out[i] = playbook.Event{
			ID: fmt.Sprintf("ev-%05d", i), Type: playbook.EventRiskySignIn, Source: "killtest", Risk: risk,
			Subject:    playbook.Subject{Provider: ProviderName, ID: user, Login: user + "@contoso.example"},
			OccurredAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
			Attributes: attrs,
		}
	}
	return out
}

// NeedsApproval reports whether the playbook asks for an approval before
// containing ev.
func NeedsApproval(ev playbook.Event) bool {
	return ev.Risk == playbook.RiskHigh && ev.Attributes[AttrApproval] == "yes"
}

// Approver is the security lead whose verdicts ApprovePending posts.
const Approver = "secops-lead@contoso.example"

// ApprovePending posts an approving verdict from Approver, through the
// store's verdict inbox as the operator CLI does, for every approval that
// is pending and has no verdict queued yet, and returns how many it
// posted. It may run while a runner holds the store.
func ApprovePending(ctx context.Context, st interface {
	playbook.Store
	playbook.VerdictInbox
}, now time.Time) (int, error) {
	runs, err := playbook.PendingApprovals(ctx, st, 0)
	if err != nil {
		return 0, err
	}
	queued, err := st.InboxVerdicts(ctx, 0)
	if err != nil {
		return 0, err
	}
	has := map[string]bool{}
	for _, q := range queued {
		has[q.Verdict.ApprovalID] = true
	}
	n := 0
	for _, r := range runs {
		id := r.Approval.Request.ID
		if has[id] {
			continue
		}
		v := playbook.Verdict{ApprovalID: id, Approver: Approver, Approve: true, Reason: "confirmed with the user",
			Channel: "cli", SummaryHash: r.Approval.Request.SummaryHash, At: now.UTC()}
		if _, err := st.PostVerdict(ctx, v); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Expected returns the outcome the playbook gives ev when nothing fails and
// any approval is granted.
func Expected(ev playbook.Event) playbook.Outcome {
	switch ev.Risk {
	case playbook.RiskHigh:
		return playbook.OutcomeContained
	case playbook.RiskMedium:
		return playbook.OutcomeMonitoring
	}
	return playbook.OutcomeLogged
}

// Policy decides by the event's risk: high is contained by the Actions
// (after an approval when the event's AttrApproval attribute is "yes"),
// medium is monitored, anything else logged.
func Policy() playbook.Policy {
	return playbook.PolicyFunc(func(_ context.Context, c *playbook.Case) (playbook.Decision, error) {
		switch c.Event.Risk {
		case playbook.RiskHigh:
			d := playbook.Decision{Response: playbook.RespondContain, Rule: "high-risk"}
			if c.Event.Attributes[AttrApproval] == "yes" {
				d.Response, d.Rule = playbook.RespondApprove, "high-risk-approval"
			}
			for _, a := range Actions {
				d.Steps = append(d.Steps, playbook.Step{Action: a})
			}
			return d, nil
		case playbook.RiskMedium:
			return playbook.Decision{Response: playbook.RespondMonitor, Rule: "medium-risk"}, nil
		}
		return playbook.Decision{Response: playbook.RespondLog, Rule: "low-risk"}, nil
	})
}

// NewPlaybook returns the playbook the crash tests run: Policy, and the
// Actions as calls to the Ledger served at baseURL through client (nil
// means a client with a 10-second timeout), auditing to sinks.
func NewPlaybook(baseURL string, client *http.Client, sinks ...playbook.AuditSink) playbook.Playbook {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	actions := map[string]playbook.Action{}
	for _, name := range Actions {
		actions[name] = httpAction(baseURL, client, name)
	}
	return playbook.Playbook{
		Name:            "killtest",
		Policy:          Policy(),
		Actions:         actions,
		ApprovalTimeout: time.Hour,
		Audit:           sinks,
	}
}

// httpAction posts the step to the Ledger with the step's idempotency key
// in the Idempotency-Key header, as providers that accept one expect.
func httpAction(baseURL string, client *http.Client, name string) playbook.Action {
	return playbook.ActionFunc(name, func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
		u := strings.TrimSuffix(baseURL, "/") + "/users/" + url.PathEscape(req.Subject.ID) + "/" + url.PathEscape(name)
		hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
		if err != nil {
			return playbook.ActionResult{}, playbook.Permanent(err)
		}
		hr.Header.Set("Idempotency-Key", req.IdempotencyKey)
		resp, err := client.Do(hr)
		if err != nil {
			return playbook.ActionResult{}, &playbook.ProviderError{Provider: ProviderName, Op: name, Err: fmt.Errorf("%w: %w", playbook.ErrUnavailable, err)}
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if err != nil {
			return playbook.ActionResult{}, &playbook.ProviderError{Provider: ProviderName, Op: name, Status: resp.StatusCode, Err: fmt.Errorf("%w: %w", playbook.ErrUnavailable, err)}
		}
		if resp.StatusCode != http.StatusOK {
			cause := playbook.ErrInvalidRequest
			if resp.StatusCode >= 500 {
				cause = playbook.ErrUnavailable
			}
			return playbook.ActionResult{}, &playbook.ProviderError{Provider: ProviderName, Op: name, Status: resp.StatusCode,
				Err: fmt.Errorf("%w: %s", cause, bytes.TrimSpace(body))}
		}
		var r ledgerResponse
		if err := json.Unmarshal(body, &r); err != nil {
			return playbook.ActionResult{}, &playbook.ProviderError{Provider: ProviderName, Op: name, Status: resp.StatusCode, Err: fmt.Errorf("%w: decoding response: %w", playbook.ErrUnavailable, err)}
		}
		return playbook.ActionResult{Status: r.Status, Detail: name + " on " + req.Subject.ID, Response: map[string]any{"application": r.Application}}, nil
	})
}

type ledgerResponse struct {
	Status      playbook.ActionStatus `json:"status"`
	Application int                   `json:"application"`
}

// Ledger is an identity provider's write API reduced to what the crash
// tests need: POST /users/{id}/{action} with an Idempotency-Key header. It
// remembers every key: the first request with a key changes something
// (an application with effect, answered "applied"), a repeat is answered
// "already-applied" and changes nothing, unless IgnoreKeys is set, in
// which case every request changes something again.
//
// A Ledger lives in the test process, so what it recorded survives the
// runner process being killed. It is safe for concurrent use.
type Ledger struct {
	// IgnoreKeys makes every request apply, as a provider that ignores
	// idempotency keys would. Set it before serving.
	IgnoreKeys bool

	mu      sync.Mutex
	effects map[string]int // key → applications with effect
	calls   map[string]int // key → requests
	target  map[string]string
	total   int
}

// NewLedger returns an empty Ledger.
func NewLedger() *Ledger {
	return &Ledger{effects: map[string]int{}, calls: map[string]int{}, target: map[string]string{}}
}

// ServeHTTP implements the API described on Ledger. A request without a
// key or to another path is refused with 400 or 404.
func (l *Ledger) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/users/")
	user, action, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || user == "" || !slices.Contains(Actions, action) {
		http.Error(w, `{"error":"no such endpoint"}`, http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, `{"error":"method not allowed"}`, http.StatusMethodNotAllowed)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		http.Error(w, `{"error":"Idempotency-Key header is required"}`, http.StatusBadRequest)
		return
	}
	l.mu.Lock()
	l.calls[key]++
	resp := ledgerResponse{Status: playbook.StatusAlreadyApplied, Application: l.effects[key]}
	if l.effects[key] == 0 || l.IgnoreKeys {
		l.effects[key]++
		l.total++
		l.target[key] = user + "/" + action
		resp = ledgerResponse{Status: playbook.StatusApplied, Application: l.effects[key]}
	}
	l.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// Effects returns, per idempotency key, how many requests changed
// something.
func (l *Ledger) Effects() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.effects))
	for k, v := range l.effects {
		out[k] = v
	}
	return out
}

// Calls returns how many requests carried key.
func (l *Ledger) Calls(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[key]
}

// Total returns the number of applications with effect so far.
func (l *Ledger) Total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// Check compares what the store, the provider's effects (per idempotency
// key, as Ledger.Effects returns) and the audit trail's records hold with
// the guarantees, for the given events (each expected to end as Expected
// says), and returns every violation found (nil when all hold):
//
//   - every event has exactly one run, and that run is done with the
//     expected outcome, and every run.resolved record of the run says that
//     outcome (a crash between the record and the store write may repeat
//     the record, never change it);
//   - no idempotency key was applied twice with effect, every key applied
//     belongs to a containment step of a run, and every contained run's
//     steps were each applied exactly once;
//   - every step the provider executed has an action.intent record and,
//     after it, an action.result record with a success status;
//   - a run whose event needs an approval holds an approved approval with
//     an approving verdict, and its trail records that verdict before the
//     run's first action.intent; a run that needs none has no approval.
//
// The audit records should come from a trail whose chain was verified.
func Check(ctx context.Context, st playbook.Store, events []playbook.Event, effects map[string]int, records []audit.Record) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	runs, err := st.ListRuns(ctx, playbook.RunFilter{})
	if err != nil {
		return []error{fmt.Errorf("listing runs: %w", err)}
	}
	byEvent := map[string][]playbook.Run{}
	for _, r := range runs {
		byEvent[r.Event.ID] = append(byEvent[r.Event.ID], r)
	}
	resolved := map[string][]string{}
	intents := map[string]uint64{}   // key → seq of the first intent
	runIntent := map[string]uint64{} // run → seq of its first intent
	approved := map[string]uint64{}  // run → seq of its first approving verdict
	results := map[string][]audit.Record{}
	for _, rec := range records {
		switch rec.Type {
		case audit.TypeRunResolved:
			resolved[rec.RunID] = append(resolved[rec.RunID], rec.Outcome)
		case audit.TypeVerdict:
			if _, ok := approved[rec.RunID]; !ok && rec.Outcome == string(playbook.ApprovalApproved) {
				approved[rec.RunID] = rec.Seq
			}
		case audit.TypeActionIntent:
			if _, ok := intents[rec.IdempotencyKey]; !ok {
				intents[rec.IdempotencyKey] = rec.Seq
			}
			if _, ok := runIntent[rec.RunID]; !ok {
				runIntent[rec.RunID] = rec.Seq
			}
		case audit.TypeActionResult:
			results[rec.IdempotencyKey] = append(results[rec.IdempotencyKey], rec)
		}
	}
	wantKeys := map[string]bool{}
	for _, ev := range events {
		rs := byEvent[ev.ID]
		delete(byEvent, ev.ID)
		if len(rs) != 1 {
			bad("event %s has %d runs, want exactly 1", ev.ID, len(rs))
			continue
		}
		r, want := rs[0], Expected(ev)
		if r.State != playbook.RunDone || r.Outcome != want {
			bad("event %s: run %s is %s/%q, want done/%q (error: %s)", ev.ID, r.ID, r.State, r.Outcome, want, r.Error)
		}
		outs := resolved[r.ID]
		if len(outs) == 0 {
			bad("event %s: run %s has no run.resolved audit record", ev.ID, r.ID)
		}
		for _, o := range outs {
			if o != string(r.Outcome) {
				bad("event %s: run %s has a run.resolved record saying %q, the store says %q", ev.ID, r.ID, o, r.Outcome)
			}
		}
		switch a := r.Approval; {
		case !NeedsApproval(ev) && a != nil:
			bad("event %s: run %s has an approval, but its event needs none", ev.ID, r.ID)
		case NeedsApproval(ev) && (a == nil || a.Status != playbook.ApprovalApproved || !slices.ContainsFunc(a.Verdicts, func(v playbook.Verdict) bool { return v.Approve })):
			bad("event %s: run %s needs an approval but holds no approved approval with an approving verdict", ev.ID, r.ID)
		case NeedsApproval(ev):
			vseq, ok := approved[r.ID]
			iseq, acted := runIntent[r.ID]
			if !ok {
				bad("event %s: run %s has no approving approval.verdict audit record", ev.ID, r.ID)
			} else if acted && iseq < vseq {
				bad("event %s: run %s recorded an action.intent (seq %d) before its approving verdict (seq %d)", ev.ID, r.ID, iseq, vseq)
			}
		}
		if want == playbook.OutcomeContained {
			for i, a := range Actions {
				key := r.ID + "/contain/" + fmt.Sprint(i) + "/" + a
				wantKeys[key] = true
				if n := effects[key]; n != 1 {
					bad("event %s: step %s of contained run %s was applied %d times, want exactly once", ev.ID, a, r.ID, n)
				}
			}
		}
	}
	for id, rs := range byEvent {
		bad("event %s, which was never sent, has %d runs", id, len(rs))
	}
	keys := make([]string, 0, len(effects))
	for k := range effects {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		n := effects[key]
		if n > 1 {
			bad("idempotency key %s was applied %d times with effect", key, n)
		}
		if !wantKeys[key] {
			bad("idempotency key %s was applied but belongs to no containment step of a contained run", key)
		}
		iseq, ok := intents[key]
		if !ok {
			bad("step %s was executed without an action.intent audit record", key)
			continue
		}
		if !slices.ContainsFunc(results[key], func(rec audit.Record) bool {
			return rec.Seq > iseq && (rec.Outcome == string(playbook.StatusApplied) || rec.Outcome == string(playbook.StatusAlreadyApplied))
		}) {
			bad("step %s was executed but has no successful action.result audit record after its intent", key)
		}
	}
	return errs
}
