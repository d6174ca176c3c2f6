package providertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// testCase is one conformance check: a name, the rule it checks, and the
// check itself.
type testCase struct {
	name string
	rule string
	run  func(t *testing.T, h *Harness, e *Env)
}

// CaseInfo describes one conformance case.
type CaseInfo struct {
	// Name is the subtest name, usable in Harness.Skip and -run.
	Name string
	// Rule is the sentence that states what the case checks.
	Rule string
}

// Cases returns the conformance cases Run runs, in order.
func Cases() []CaseInfo {
	out := make([]CaseInfo, len(cases))
	for i, c := range cases {
		out[i] = CaseInfo{Name: c.name, Rule: c.rule}
	}
	return out
}

// Run runs the conformance suite against the provider h describes, one
// parallel subtest per case. Each subtest logs the rule it checks, gets a
// fresh Env from h.New, and is skipped when h.Skip names it or a hook or
// action it needs is missing.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Provider == "" {
		t.Fatal("providertest: Harness.Provider is empty")
	}
	if h.New == nil {
		t.Fatal("providertest: Harness.New is nil")
	}
	for name := range h.Skip {
		if !slices.ContainsFunc(cases, func(c testCase) bool { return c.name == name }) {
			t.Fatalf("providertest: Harness.Skip names unknown case %q", name)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			t.Log("rule: " + c.rule)
			if reason, ok := h.Skip[c.name]; ok {
				t.Skip("skipped by the harness: " + reason)
			}
			e := h.New(t)
			if e == nil {
				t.Fatal("providertest: Harness.New returned nil")
			}
			switch {
			case e.Actions == nil:
				t.Fatal("providertest: Env.Actions is nil")
			case e.NewUser == nil:
				t.Fatal("providertest: Env.NewUser is nil")
			case e.UserEnabled == nil:
				t.Fatal("providertest: Env.UserEnabled is nil")
			}
			c.run(t, &h, e)
		})
	}
}

var cases = []testCase{
	{
		name: "ActionNames",
		rule: "every action is registered under the name it reports, so that policies can name it",
		run:  testActionNames,
	},
	{
		name: "DisableThenAlreadyApplied",
		rule: "disable-user disables an enabled account and reports applied; repeating it reports already-applied and leaves the account disabled",
		run:  testDisableThenAlready,
	},
	{
		name: "AlreadyDisabled",
		rule: "disable-user on an account that is already disabled reports already-applied without error",
		run:  testAlreadyDisabled,
	},
	{
		name: "SameKeyAppliesOnce",
		rule: "two executions with the same idempotency key apply the effect once: the second reports already-applied and makes no write",
		run:  testSameKey,
	},
	{
		name: "KeyOutlivesState",
		rule: "an idempotency key that was applied is never applied again, even after the account returned to its prior state",
		run:  testKeyOutlivesState,
	},
	{
		name: "ConcurrentSameKey",
		rule: "concurrent executions with the same idempotency key apply the effect exactly once; the others report already-applied",
		run:  testConcurrentSameKey,
	},
	{
		name: "UnknownUser",
		rule: "every action refuses an unknown account with an error that wraps playbook.ErrNotFound and classifies as permanent",
		run:  testUnknownUser,
	},
	{
		name: "MissingParameter",
		rule: "remove-role and remove-group-member without their parameter fail with a permanent error wrapping playbook.ErrInvalidRequest and change nothing",
		run:  testMissingParam,
	},
	{
		name: "Throttled",
		rule: "a throttled call fails with an error classified as throttled that carries the provider's Retry-After, changes nothing, and the retry succeeds",
		run:  testThrottled,
	},
	{
		name: "PermissionDenied",
		rule: "a call refused for lack of permission fails with an error wrapping playbook.ErrPermissionDenied, classified permanent, and changes nothing",
		run:  testPermissionDenied,
	},
	{
		name: "UndoDisable",
		rule: "undoing disable-user re-enables the account and reports undone",
		run:  testUndoDisable,
	},
	{
		name: "UndoRemoveRole",
		rule: "undoing remove-role restores the removed role assignment from the recorded prior state",
		run:  testUndoRemoveRole,
	},
	{
		name: "UndoRemoveGroupMember",
		rule: "undoing remove-group-member restores the group membership from the recorded prior state",
		run:  testUndoRemoveGroup,
	},
	{
		name: "UndoTwice",
		rule: "undoing an action whose effect is already gone reports already-applied and changes nothing",
		run:  testUndoTwice,
	},
	{
		name: "RevokeSessions",
		rule: "revoke-sessions leaves the account with zero active sessions; repeating it reports already-applied",
		run:  testRevokeSessions,
	},
	{
		name: "PlanChangesNothing",
		rule: "Plan (dry-run) reports dry-run or already-applied and never changes the account or writes to the provider",
		run:  testPlan,
	},
	{
		name: "EnrichFacts",
		rule: "the enrichers fill the profile, the roles and the privilege level of an account, and only read from the provider",
		run:  testEnrichFacts,
	},
	{
		name: "EnrichStandardUser",
		rule: "the enrichers never report an account without privileged roles or groups as privileged",
		run:  testEnrichStandard,
	},
	{
		name: "EnrichUnknownUser",
		rule: "enriching an unknown account fails with an error wrapping playbook.ErrNotFound and fills no profile",
		run:  testEnrichUnknown,
	},
}

// --- helpers ---

func request(t *testing.T, s playbook.Subject, action, key string, params map[string]string) playbook.ActionRequest {
	run := "providertest/" + t.Name()
	return playbook.ActionRequest{
		RunID:          run,
		StepID:         "contain/0/" + action,
		IdempotencyKey: run + "/" + key,
		Subject:        s,
		Params:         params,
		Attempt:        1,
	}
}

func needAction(t *testing.T, e *Env, name string) playbook.Action {
	t.Helper()
	a, ok := e.Actions[name]
	if !ok || a == nil {
		t.Skipf("the provider has no %s action", name)
	}
	return a
}

func needUndoer(t *testing.T, a playbook.Action) playbook.Undoer {
	t.Helper()
	u, ok := playbook.AsUndoer(a)
	if !ok {
		t.Skipf("action %s does not implement playbook.Undoer", a.Name())
	}
	return u
}

func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if !ok {
		t.Skipf("Env.%s is not set", what)
	}
}

func execute(t *testing.T, a playbook.Action, req playbook.ActionRequest, want playbook.ActionStatus) playbook.ActionResult {
	t.Helper()
	res, err := a.Execute(t.Context(), req)
	if err != nil {
		t.Fatalf("%s.Execute(%s): %v", a.Name(), req.Subject.ID, err)
	}
	if res.Status != want {
		t.Fatalf("%s.Execute(%s) status = %q (%s), want %q", a.Name(), req.Subject.ID, res.Status, res.Detail, want)
	}
	return res
}

func undo(t *testing.T, u playbook.Undoer, req playbook.ActionRequest, done playbook.ActionResult, want playbook.ActionStatus) playbook.ActionResult {
	t.Helper()
	res, err := u.Undo(t.Context(), req, done)
	if err != nil {
		t.Fatalf("Undo(%s): %v", req.Subject.ID, err)
	}
	if res.Status != want {
		t.Fatalf("Undo(%s) status = %q (%s), want %q", req.Subject.ID, res.Status, res.Detail, want)
	}
	return res
}

func wantEnabled(t *testing.T, e *Env, s playbook.Subject, want bool) {
	t.Helper()
	if got := e.UserEnabled(t, s); got != want {
		t.Fatalf("UserEnabled(%s) = %v, want %v", s.ID, got, want)
	}
}

func writes(t *testing.T, e *Env) int {
	if e.WriteCount == nil {
		return -1
	}
	return e.WriteCount(t)
}

// wantWrites checks that the instance received delta writes since before
// (as returned by writes), when the instance can count writes.
func wantWrites(t *testing.T, e *Env, before, delta int, what string) {
	t.Helper()
	if before < 0 {
		return
	}
	if got := e.WriteCount(t) - before; got != delta {
		t.Fatalf("%s: the provider received %d writes, want %d", what, got, delta)
	}
}

func wantPrior(t *testing.T, res playbook.ActionResult) {
	t.Helper()
	if len(res.Prior) == 0 || !json.Valid(res.Prior) {
		t.Fatalf("result Prior = %q, want the prior state as valid JSON", res.Prior)
	}
}

func wantClass(t *testing.T, err error, sentinel error, class playbook.Class) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one wrapping %v", sentinel)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("error %q does not wrap %v", err, sentinel)
	}
	if got := playbook.Classify(err); got != class {
		t.Fatalf("Classify(%q) = %s, want %s", err, got, class)
	}
}

func unknownSubject(h *Harness, e *Env) playbook.Subject {
	if e.UnknownSubject.ID != "" {
		return e.UnknownSubject
	}
	return playbook.Subject{Provider: h.Provider, ID: "providertest-no-such-user"}
}

// params returns parameters that make action name act on Env.Role or
// Env.Group.
func params(e *Env, name string) map[string]string {
	switch name {
	case playbook.ActionRemoveRole:
		return map[string]string{"role": e.Role}
	case playbook.ActionRemoveGroupMember:
		return map[string]string{"group": e.Group}
	}
	return nil
}

// --- cases ---

func testActionNames(t *testing.T, _ *Harness, e *Env) {
	if len(e.Actions) == 0 {
		t.Fatal("Env.Actions is empty")
	}
	for name, a := range e.Actions {
		if a == nil {
			t.Errorf("Actions[%q] is nil", name)
			continue
		}
		if a.Name() != name {
			t.Errorf("Actions[%q].Name() = %q", name, a.Name())
		}
	}
}

func testDisableThenAlready(t *testing.T, _ *Harness, e *Env) {
	a := needAction(t, e, playbook.ActionDisableUser)
	s := e.NewUser(t, UserSpec{})
	wantEnabled(t, e, s, true)
	res := execute(t, a, request(t, s, a.Name(), "first", nil), playbook.StatusApplied)
	wantPrior(t, res)
	wantEnabled(t, e, s, false)
	execute(t, a, request(t, s, a.Name(), "second", nil), playbook.StatusAlreadyApplied)
	wantEnabled(t, e, s, false)
}

func testAlreadyDisabled(t *testing.T, _ *Harness, e *Env) {
	a := needAction(t, e, playbook.ActionDisableUser)
	s := e.NewUser(t, UserSpec{Disabled: true})
	wantEnabled(t, e, s, false)
	before := writes(t, e)
	execute(t, a, request(t, s, a.Name(), "k", nil), playbook.StatusAlreadyApplied)
	wantWrites(t, e, before, 0, "disable-user on a disabled account")
	wantEnabled(t, e, s, false)
}

func testSameKey(t *testing.T, _ *Harness, e *Env) {
	a := needAction(t, e, playbook.ActionDisableUser)
	s := e.NewUser(t, UserSpec{})
	req := request(t, s, a.Name(), "k", nil)
	before := writes(t, e)
	execute(t, a, req, playbook.StatusApplied)
	req.Attempt = 2
	execute(t, a, req, playbook.StatusAlreadyApplied)
	wantWrites(t, e, before, 1, "two executions with one key")
	wantEnabled(t, e, s, false)
}

func testKeyOutlivesState(t *testing.T, _ *Harness, e *Env) {
	a := needAction(t, e, playbook.ActionDisableUser)
	u := needUndoer(t, a)
	s := e.NewUser(t, UserSpec{})
	req := request(t, s, a.Name(), "k", nil)
	done := execute(t, a, req, playbook.StatusApplied)
	undo(t, u, request(t, s, a.Name(), "undo", nil), done, playbook.StatusUndone)
	wantEnabled(t, e, s, true)
	req.Attempt = 2
	execute(t, a, req, playbook.StatusAlreadyApplied)
	wantEnabled(t, e, s, true)
}

func testConcurrentSameKey(t *testing.T, _ *Harness, e *Env) {
	a := needAction(t, e, playbook.ActionDisableUser)
	s := e.NewUser(t, UserSpec{})
	req := request(t, s, a.Name(), "k", nil)
	before := writes(t, e)
	const n = 8
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses []playbook.ActionStatus
		errs     []error
	)
	for i := range n {
		wg.Go(func() {
			r := req
			r.Attempt = i + 1
			res, err := a.Execute(t.Context(), r)
			mu.Lock()
			defer mu.Unlock()
			statuses = append(statuses, res.Status)
			errs = append(errs, err)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent executions failed: %v", err)
	}
	applied := 0
	for _, st := range statuses {
		switch st {
		case playbook.StatusApplied:
			applied++
		case playbook.StatusAlreadyApplied:
		default:
			t.Errorf("status %q, want applied or already-applied", st)
		}
	}
	if applied != 1 {
		t.Fatalf("%d of %d concurrent executions reported applied, want exactly 1 (statuses %v)", applied, n, statuses)
	}
	wantWrites(t, e, before, 1, fmt.Sprintf("%d concurrent executions with one key", n))
	wantEnabled(t, e, s, false)
}

func testUnknownUser(t *testing.T, h *Harness, e *Env) {
	s := unknownSubject(h, e)
	names := slices.Sorted(maps.Keys(e.Actions))
	for _, name := range names {
		a := e.Actions[name]
		p := params(e, name)
		for k, v := range p {
			if v == "" {
				p[k] = "providertest-" + k
			}
		}
		_, err := a.Execute(t.Context(), request(t, s, name, name, p))
		if err == nil {
			t.Errorf("%s on unknown user %q succeeded, want an error wrapping ErrNotFound", name, s.ID)
			continue
		}
		if !errors.Is(err, playbook.ErrNotFound) {
			t.Errorf("%s on unknown user: error %q does not wrap ErrNotFound", name, err)
		}
		if c := playbook.Classify(err); c != playbook.ClassPermanent {
			t.Errorf("%s on unknown user: Classify(%q) = %s, want permanent", name, err, c)
		}
	}
}

func testMissingParam(t *testing.T, _ *Harness, e *Env) {
	ran := false
	for _, tc := range []struct {
		action string
		spec   UserSpec
		ok     bool
		check  func(s playbook.Subject) bool
	}{
		{playbook.ActionRemoveRole, UserSpec{Privileged: true}, e.Role != "" && e.HasRole != nil,
			func(s playbook.Subject) bool { return e.HasRole(t, s, e.Role) }},
		{playbook.ActionRemoveGroupMember, UserSpec{InGroup: true}, e.Group != "" && e.InGroup != nil,
			func(s playbook.Subject) bool { return e.InGroup(t, s, e.Group) }},
	} {
		a, ok := e.Actions[tc.action]
		if !ok || !tc.ok {
			continue
		}
		ran = true
		s := e.NewUser(t, tc.spec)
		for _, p := range []map[string]string{nil, {"unrelated": "x"}} {
			_, err := a.Execute(t.Context(), request(t, s, tc.action, "k", p))
			if err == nil || !errors.Is(err, playbook.ErrInvalidRequest) || playbook.Classify(err) != playbook.ClassPermanent {
				t.Errorf("%s with params %v: error %v, want a permanent one wrapping ErrInvalidRequest", tc.action, p, err)
			}
		}
		if !tc.check(s) {
			t.Errorf("%s without its parameter changed the account", tc.action)
		}
	}
	if !ran {
		t.Skip("needs remove-role with Env.Role and Env.HasRole, or remove-group-member with Env.Group and Env.InGroup")
	}
}

func testThrottled(t *testing.T, _ *Harness, e *Env) {
	need(t, e.InjectThrottle != nil, "InjectThrottle")
	a := needAction(t, e, playbook.ActionDisableUser)
	s := e.NewUser(t, UserSpec{})
	const delay = 2 * time.Second
	e.InjectThrottle(t, a.Name(), delay)
	req := request(t, s, a.Name(), "k", nil)
	_, err := a.Execute(t.Context(), req)
	wantClass(t, err, playbook.ErrThrottled, playbook.ClassThrottled)
	if d, ok := playbook.RetryAfter(err); !ok || d <= 0 {
		t.Fatalf("RetryAfter(%q) = %s, %v; want the provider's delay (%s)", err, d, ok, delay)
	}
	wantEnabled(t, e, s, true)
	req.Attempt = 2
	execute(t, a, req, playbook.StatusApplied)
	wantEnabled(t, e, s, false)
}

func testPermissionDenied(t *testing.T, _ *Harness, e *Env) {
	need(t, e.InjectPermissionDenied != nil, "InjectPermissionDenied")
	a := needAction(t, e, playbook.ActionDisableUser)
	s := e.NewUser(t, UserSpec{})
	e.InjectPermissionDenied(t, a.Name())
	_, err := a.Execute(t.Context(), request(t, s, a.Name(), "k", nil))
	wantClass(t, err, playbook.ErrPermissionDenied, playbook.ClassPermanent)
	wantEnabled(t, e, s, true)
}

func testUndoDisable(t *testing.T, _ *Harness, e *Env) {
	a := needAction(t, e, playbook.ActionDisableUser)
	u := needUndoer(t, a)
	s := e.NewUser(t, UserSpec{})
	done := execute(t, a, request(t, s, a.Name(), "k", nil), playbook.StatusApplied)
	wantPrior(t, done)
	wantEnabled(t, e, s, false)
	undo(t, u, request(t, s, a.Name(), "undo", nil), done, playbook.StatusUndone)
	wantEnabled(t, e, s, true)
}

func testUndoRemoveRole(t *testing.T, _ *Harness, e *Env) {
	need(t, e.Role != "", "Role")
	need(t, e.HasRole != nil, "HasRole")
	testUndoMembership(t, e, playbook.ActionRemoveRole, e.Role, UserSpec{Privileged: true}, e.HasRole)
}

func testUndoRemoveGroup(t *testing.T, _ *Harness, e *Env) {
	need(t, e.Group != "", "Group")
	need(t, e.InGroup != nil, "InGroup")
	testUndoMembership(t, e, playbook.ActionRemoveGroupMember, e.Group, UserSpec{InGroup: true}, e.InGroup)
}

// testUndoMembership removes a membership (a role, a group) that spec
// gives a new user, checks a repeat is already-applied, undoes it and
// checks the membership is back.
func testUndoMembership(t *testing.T, e *Env, action, what string, spec UserSpec, holds func(*testing.T, playbook.Subject, string) bool) {
	t.Helper()
	a := needAction(t, e, action)
	u := needUndoer(t, a)
	s := e.NewUser(t, spec)
	if !holds(t, s, what) {
		t.Fatalf("NewUser(%+v) did not give %s %q", spec, s.ID, what)
	}
	p := params(e, a.Name())
	done := execute(t, a, request(t, s, a.Name(), "k", p), playbook.StatusApplied)
	wantPrior(t, done)
	if holds(t, s, what) {
		t.Fatalf("after %s, %s still holds %q", action, s.ID, what)
	}
	execute(t, a, request(t, s, a.Name(), "again", p), playbook.StatusAlreadyApplied)
	undo(t, u, request(t, s, a.Name(), "undo", p), done, playbook.StatusUndone)
	if !holds(t, s, what) {
		t.Fatalf("after undoing %s, %s does not hold %q", action, s.ID, what)
	}
}

func testUndoTwice(t *testing.T, _ *Harness, e *Env) {
	a := needAction(t, e, playbook.ActionDisableUser)
	u := needUndoer(t, a)
	s := e.NewUser(t, UserSpec{})
	done := execute(t, a, request(t, s, a.Name(), "k", nil), playbook.StatusApplied)
	undo(t, u, request(t, s, a.Name(), "undo-1", nil), done, playbook.StatusUndone)
	before := writes(t, e)
	undo(t, u, request(t, s, a.Name(), "undo-2", nil), done, playbook.StatusAlreadyApplied)
	wantWrites(t, e, before, 0, "a second undo")
	wantEnabled(t, e, s, true)
}

func testRevokeSessions(t *testing.T, _ *Harness, e *Env) {
	need(t, e.SessionCount != nil, "SessionCount")
	a := needAction(t, e, playbook.ActionRevokeSessions)
	s := e.NewUser(t, UserSpec{Sessions: 3})
	if n := e.SessionCount(t, s); n != 3 {
		t.Fatalf("NewUser(Sessions: 3) made %d sessions", n)
	}
	execute(t, a, request(t, s, a.Name(), "k", nil), playbook.StatusApplied)
	if n := e.SessionCount(t, s); n != 0 {
		t.Fatalf("after revoke-sessions, %s has %d sessions, want 0", s.ID, n)
	}
	execute(t, a, request(t, s, a.Name(), "again", nil), playbook.StatusAlreadyApplied)
}

// state is what Plan must not change.
type state struct {
	enabled  bool
	role     bool
	group    bool
	sessions int
}

func observe(t *testing.T, e *Env, s playbook.Subject) state {
	st := state{enabled: e.UserEnabled(t, s), sessions: -1}
	if e.HasRole != nil && e.Role != "" {
		st.role = e.HasRole(t, s, e.Role)
	}
	if e.InGroup != nil && e.Group != "" {
		st.group = e.InGroup(t, s, e.Group)
	}
	if e.SessionCount != nil {
		st.sessions = e.SessionCount(t, s)
	}
	return st
}

func testPlan(t *testing.T, _ *Harness, e *Env) {
	names := slices.Sorted(maps.Keys(e.Actions))
	planned := 0
	for _, name := range names {
		pl, ok := playbook.AsPlanner(e.Actions[name])
		if !ok {
			continue
		}
		p := params(e, name)
		if (name == playbook.ActionRemoveRole && e.Role == "") || (name == playbook.ActionRemoveGroupMember && e.Group == "") {
			continue
		}
		planned++
		s := e.NewUser(t, UserSpec{Privileged: e.Role != "", InGroup: e.Group != "", Sessions: 2})
		was := observe(t, e, s)
		before := writes(t, e)
		res, err := pl.Plan(t.Context(), request(t, s, name, "k", p))
		if err != nil {
			t.Errorf("%s.Plan: %v", name, err)
			continue
		}
		if res.Status != playbook.StatusDryRun {
			t.Errorf("%s.Plan on an account it would change: status %q (%s), want %q", name, res.Status, res.Detail, playbook.StatusDryRun)
		}
		if res.Detail == "" {
			t.Errorf("%s.Plan: Detail is empty, want what it would do", name)
		}
		wantWrites(t, e, before, 0, name+".Plan")
		if now := observe(t, e, s); now != was {
			t.Errorf("%s.Plan changed the account: %+v → %+v", name, was, now)
		}
	}
	if planned == 0 {
		t.Skip("no action implements playbook.Planner")
	}
	if a, ok := e.Actions[playbook.ActionDisableUser]; ok {
		if pl, ok := playbook.AsPlanner(a); ok {
			s := e.NewUser(t, UserSpec{Disabled: true})
			res, err := pl.Plan(t.Context(), request(t, s, a.Name(), "k", nil))
			if err != nil || res.Status != playbook.StatusAlreadyApplied {
				t.Errorf("disable-user.Plan on a disabled account: %q, %v; want %q", res.Status, err, playbook.StatusAlreadyApplied)
			}
		}
	}
}

// enrich runs every enricher concurrently on a fresh case for s, as the
// runner does, and returns the facts and the enrichers' errors by name.
func enrich(t *testing.T, e *Env, s playbook.Subject) (playbook.Facts, map[string]error) {
	c := playbook.NewCase("providertest/"+t.Name(), playbook.Event{
		ID: "providertest-event", Type: playbook.EventRiskyUser, Source: "providertest", Subject: s, Risk: playbook.RiskHigh,
	})
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs = map[string]error{}
	)
	for name, en := range e.Enrichers {
		wg.Go(func() {
			if err := en.Enrich(t.Context(), c); err != nil {
				mu.Lock()
				errs[name] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return c.Snapshot(), errs
}

func holds(roles []playbook.Role, ref string) bool {
	return slices.ContainsFunc(roles, func(r playbook.Role) bool {
		return r.ID == ref || strings.EqualFold(r.Name, ref) || (r.Template != "" && strings.EqualFold(r.Template, ref))
	})
}

func testEnrichFacts(t *testing.T, _ *Harness, e *Env) {
	need(t, len(e.Enrichers) > 0, "Enrichers")
	need(t, e.Role != "", "Role")
	s := e.NewUser(t, UserSpec{Privileged: true, InGroup: e.Group != "", Sessions: 1})
	before := writes(t, e)
	f, errs := enrich(t, e, s)
	for name, err := range errs {
		t.Errorf("enricher %s: %v", name, err)
	}
	wantWrites(t, e, before, 0, "enrichment")
	if f.Profile == nil {
		t.Fatal("no enricher filled Facts.Profile")
	}
	if f.Profile.ID != s.ID || !f.Profile.Enabled {
		t.Errorf("Facts.Profile = {ID: %q, Enabled: %v}, want {ID: %q, Enabled: true}", f.Profile.ID, f.Profile.Enabled, s.ID)
	}
	if !holds(f.Roles, e.Role) {
		t.Errorf("Facts.Roles = %+v, want it to hold %q", f.Roles, e.Role)
	}
	if f.Privilege != playbook.PrivilegePrivileged {
		t.Errorf("Facts.Privilege = %s for a holder of %q, want privileged", f.Privilege, e.Role)
	}
	if e.Group != "" && f.Groups != nil && !slices.ContainsFunc(f.Groups, func(g playbook.Group) bool {
		return g.ID == e.Group || strings.EqualFold(g.Name, e.Group)
	}) {
		t.Errorf("Facts.Groups = %+v, want it to hold %q", f.Groups, e.Group)
	}
}

func testEnrichStandard(t *testing.T, _ *Harness, e *Env) {
	need(t, len(e.Enrichers) > 0, "Enrichers")
	s := e.NewUser(t, UserSpec{})
	f, errs := enrich(t, e, s)
	for name, err := range errs {
		t.Errorf("enricher %s: %v", name, err)
	}
	if f.Privilege == playbook.PrivilegePrivileged {
		t.Errorf("Facts.Privilege = privileged for an account without roles (roles %+v, groups %+v)", f.Roles, f.Groups)
	}
	if len(f.Roles) != 0 {
		t.Errorf("Facts.Roles = %+v for an account without roles", f.Roles)
	}
}

func testEnrichUnknown(t *testing.T, h *Harness, e *Env) {
	need(t, len(e.Enrichers) > 0, "Enrichers")
	f, errs := enrich(t, e, unknownSubject(h, e))
	if f.Profile != nil {
		t.Errorf("Facts.Profile = %+v for an unknown account, want nil", f.Profile)
	}
	notFound := 0
	for name, err := range errs {
		if errors.Is(err, playbook.ErrNotFound) {
			notFound++
			if c := playbook.Classify(err); c != playbook.ClassPermanent {
				t.Errorf("enricher %s: Classify(%q) = %s, want permanent", name, err, c)
			}
		}
	}
	if notFound == 0 {
		t.Errorf("no enricher reported the unknown account as not found (errors: %v)", errs)
	}
}
