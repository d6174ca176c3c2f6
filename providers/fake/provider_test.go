package fake_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/fake"
)

func TestCallLog(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := seeded(t)
		t0 := time.Now()
		c := playbook.NewCase("r", playbook.Event{Subject: p.Subject("alice")})
		require.NoError(t, p.RolesEnricher().Enrich(t.Context(), c))
		time.Sleep(time.Second)
		remove, _ := p.Action(playbook.ActionRemoveRole)
		params := map[string]string{"role": "global-admin"}
		r := req(p, "alice", "k1", params)
		r.Attempt = 3
		if _, err := remove.Execute(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		params["role"] = "changed by the caller afterwards"
		if _, err := remove.Execute(t.Context(), req(p, "alice", "k2", map[string]string{"role": "global-admin"})); err != nil {
			t.Fatal(err)
		}
		pl, _ := playbook.AsPlanner(remove)
		if _, err := pl.Plan(t.Context(), req(p, "alice", "k3", map[string]string{"role": "helpdesk-admin"})); err != nil {
			t.Fatal(err)
		}
		_, errNF := remove.Execute(t.Context(), req(p, "nobody", "k4", map[string]string{"role": "x"}))

		calls := p.Calls()
		type row struct {
			op     string
			key    string
			try    int
			status playbook.ActionStatus
			write  bool
			err    error
			at     time.Duration
		}
		want := []row{
			{fake.OpListRoles, "", 0, "", false, nil, 0},
			{playbook.ActionRemoveRole, "k1", 3, playbook.StatusApplied, true, nil, time.Second},
			{playbook.ActionRemoveRole, "k2", 1, playbook.StatusAlreadyApplied, false, nil, time.Second},
			{fake.PlanOp(playbook.ActionRemoveRole), "k3", 1, playbook.StatusDryRun, false, nil, time.Second},
			{playbook.ActionRemoveRole, "k4", 1, "", false, errNF, time.Second},
		}
		if len(calls) != len(want) {
			t.Fatalf("got %d calls, want %d: %+v", len(calls), len(want), calls)
		}
		for i, w := range want {
			c := calls[i]
			got := row{c.Op, c.IdempotencyKey, c.Attempt, c.Status, c.Write, c.Err, c.Time.Sub(t0)}
			if got != w {
				t.Errorf("call %d = %+v, want %+v", i, got, w)
			}
		}
		if calls[0].Subject.ID != "alice" || calls[4].Subject.ID != "nobody" {
			t.Errorf("subjects %q, %q", calls[0].Subject.ID, calls[4].Subject.ID)
		}
		if got := calls[1].Params["role"]; got != "global-admin" {
			t.Errorf("logged params were changed by the caller: role = %q", got)
		}
		calls[1].Params["role"] = "changed through the copy"
		if got := p.Calls()[1].Params["role"]; got != "global-admin" {
			t.Errorf("Calls returned the log's own map: role = %q", got)
		}
		if w := p.Writes(); len(w) != 1 || w[0].IdempotencyKey != "k1" {
			t.Errorf("Writes = %+v, want the k1 call", w)
		}
		for op, n := range map[string]int{playbook.ActionRemoveRole: 3, fake.OpListRoles: 1, fake.AnyOp: 5, "none": 0} {
			if got := p.CallCount(op); got != n {
				t.Errorf("CallCount(%q) = %d, want %d", op, got, n)
			}
		}
		if p.WriteCount(playbook.ActionRemoveRole) != 1 || p.WriteCount(fake.OpListRoles) != 0 {
			t.Error("WriteCount disagrees with the log")
		}
		p.ResetCalls()
		if len(p.Calls()) != 0 || p.CallCount(fake.AnyOp) != 0 {
			t.Error("ResetCalls kept calls")
		}
	})
}

func TestWithoutCallLog(t *testing.T) {
	t.Parallel()
	p := fake.New(fake.WithoutCallLog())
	require.NoError(t, p.AddUser(fake.User{ID: "alice"}))
	a, _ := p.Action(playbook.ActionDisableUser)
	if _, err := a.Execute(t.Context(), req(p, "alice", "k", nil)); err != nil {
		t.Fatal(err)
	}
	if p.Calls() != nil || p.Writes() != nil {
		t.Error("the disabled log recorded calls")
	}
	if p.CallCount(fake.AnyOp) != 1 || p.WriteCount(playbook.ActionDisableUser) != 1 {
		t.Error("counts were not kept")
	}
}

func TestWithNow(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p := fake.New(fake.WithNow(func() time.Time { return at }), fake.WithName("acme"))
	require.NoError(t, p.AddUser(fake.User{ID: "alice"}))
	_ = p.ProfileEnricher().Enrich(t.Context(), playbook.NewCase("r", playbook.Event{Subject: p.Subject("alice")}))
	if c := p.Calls(); len(c) != 1 || !c[0].Time.Equal(at) || c[0].Subject.Provider != "acme" {
		t.Fatalf("calls = %+v", c)
	}
}

func TestEnrichers(t *testing.T) {
	t.Parallel()
	p := seeded(t)
	base := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	for i, ok := range []bool{true, false, true, true} {
		require.NoError(t, p.AddSignIn("alice", playbook.SignIn{Time: base.Add(time.Duration(i) * time.Hour), Success: ok, IP: "10.0.0." + string(rune('1'+i))}))
	}
	require.NoError(t, p.UpdateUser("alice", func(u *fake.User) { u.Tags = append(u.Tags, fake.TagBreakGlass) }))
	require.NoError(t, p.AddUser(fake.User{ID: "carol"}))
	require.NoError(t, p.AddToGroup("carol", "tier0"))

	enrich := func(id string, es ...playbook.Enricher) playbook.Facts {
		c := playbook.NewCase("r", playbook.Event{Subject: p.Subject(id)})
		c.Facts.Tags = []string{"executive", "from-another-enricher"}
		for _, e := range es {
			require.NoError(t, e.Enrich(t.Context(), c))
		}
		return c.Snapshot()
	}

	t.Run("profile", func(t *testing.T) {
		f := enrich("alice", p.ProfileEnricher())
		want := playbook.Profile{ID: "alice", Login: "alice@example.com", DisplayName: "Alice", Enabled: true, Status: "active", LastSignIn: base.Add(3 * time.Hour)}
		if f.Profile == nil || *f.Profile != want {
			t.Fatalf("profile = %+v, want %+v", f.Profile, want)
		}
		if f := enrich("bob", p.ProfileEnricher()); f.Profile.Enabled || f.Profile.Status != "disabled" {
			t.Fatalf("bob's profile = %+v, want disabled", f.Profile)
		}
	})
	t.Run("roles", func(t *testing.T) {
		f := enrich("alice", p.RolesEnricher())
		want := []playbook.Role{
			{ID: "global-admin", Name: "Global Administrator", Template: "62e90394-69f5-4237-9190-012177145e10", Scope: "/"},
			{ID: "helpdesk-admin", Name: "Helpdesk Administrator", Template: "729827e3-9c14-49f7-bb1b-9608f156bbb8", Scope: "/administrativeUnits/eu"},
		}
		if !slices.Equal(f.Roles, want) || f.Privilege != playbook.PrivilegePrivileged {
			t.Fatalf("roles = %+v privilege %s", f.Roles, f.Privilege)
		}
		if f := enrich("bob", p.RolesEnricher()); f.Privilege != playbook.PrivilegeStandard || f.Roles == nil || len(f.Roles) != 0 {
			t.Fatalf("bob: roles %#v privilege %s, want known-empty and standard", f.Roles, f.Privilege)
		}
	})
	t.Run("groups", func(t *testing.T) {
		f := enrich("carol", p.GroupsEnricher())
		if !slices.Equal(f.Groups, []playbook.Group{{ID: "g1", Name: "tier0"}}) || f.Privilege != playbook.PrivilegePrivileged {
			t.Fatalf("carol: groups %+v privilege %s", f.Groups, f.Privilege)
		}
		// Roles say standard, the group says privileged: either order ends privileged.
		for _, order := range [][]playbook.Enricher{{p.RolesEnricher(), p.GroupsEnricher()}, {p.GroupsEnricher(), p.RolesEnricher()}} {
			if f := enrich("carol", order...); f.Privilege != playbook.PrivilegePrivileged {
				t.Fatalf("privilege %s, want privileged whatever the order", f.Privilege)
			}
		}
		if f := enrich("bob", p.GroupsEnricher()); f.Privilege != playbook.PrivilegeUnknown {
			t.Fatalf("groups alone set privilege %s, want it left unknown", f.Privilege)
		}
	})
	t.Run("sign-ins", func(t *testing.T) {
		f := enrich("alice", p.SignInsEnricher(2))
		if len(f.SignIns) != 2 || !f.SignIns[0].Time.Equal(base.Add(3*time.Hour)) || !f.SignIns[1].Time.Equal(base.Add(2*time.Hour)) {
			t.Fatalf("sign-ins = %+v, want the 2 newest, newest first", f.SignIns)
		}
		if f := enrich("alice", p.SignInsEnricher(0)); len(f.SignIns) != 4 {
			t.Fatalf("n=0 returned %d sign-ins, want all 4", len(f.SignIns))
		}
	})
	t.Run("sessions", func(t *testing.T) {
		if f := enrich("alice", p.SessionsEnricher()); len(f.Sessions) != 2 || f.Sessions[0].ID != "sess-3" {
			t.Fatalf("sessions = %+v", f.Sessions)
		}
	})
	t.Run("risk", func(t *testing.T) {
		f := enrich("alice", p.RiskEnricher())
		if f.Risk != playbook.RiskMedium || !f.Protected || !slices.Equal(f.Tags, []string{"executive", "from-another-enricher", fake.TagBreakGlass}) {
			t.Fatalf("risk %s protected %v tags %v", f.Risk, f.Protected, f.Tags)
		}
		require.NoError(t, p.UpdateUser("bob", func(u *fake.User) { u.Compromised = true }))
		if f := enrich("bob", p.RiskEnricher()); f.Risk != playbook.RiskHigh || f.Protected {
			t.Fatalf("compromised bob: risk %s protected %v", f.Risk, f.Protected)
		}
	})
	t.Run("all by name", func(t *testing.T) {
		es := p.Enrichers()
		for _, name := range []string{fake.EnricherProfile, fake.EnricherRoles, fake.EnricherGroups, fake.EnricherSignIns, fake.EnricherSessions, fake.EnricherRisk} {
			if es[name] == nil {
				t.Errorf("Enrichers lacks %q", name)
			}
		}
		if len(es) != 6 {
			t.Errorf("Enrichers has %d entries", len(es))
		}
	})
}

func TestEnricherErrors(t *testing.T) {
	t.Parallel()
	p := seeded(t)
	for name, e := range p.Enrichers() {
		for subj, want := range map[playbook.Subject]error{
			{Provider: "fake", ID: "nobody"}: playbook.ErrNotFound,
			{Provider: "okta", ID: "alice"}:  playbook.ErrInvalidRequest,
			{}:                               playbook.ErrInvalidRequest,
		} {
			c := playbook.NewCase("r", playbook.Event{Subject: subj})
			err := e.Enrich(t.Context(), c)
			if !errors.Is(err, want) || playbook.Classify(err) != playbook.ClassPermanent {
				t.Errorf("%s on %+v: %v, want a permanent %v", name, subj, err, want)
			}
			if f := c.Snapshot(); f.Profile != nil || f.Roles != nil || f.Privilege != playbook.PrivilegeUnknown {
				t.Errorf("%s on %+v wrote facts", name, subj)
			}
		}
	}
	if p.WriteCount(fake.AnyOp) != 0 {
		t.Error("enrichers wrote")
	}
}

func TestSeeding(t *testing.T) {
	t.Parallel()
	p := seeded(t)
	for name, err := range map[string]error{
		"empty id":         p.AddUser(fake.User{}),
		"duplicate id":     p.AddUser(fake.User{ID: "alice"}),
		"duplicate login":  p.AddUser(fake.User{ID: "alice2", Login: "ALICE@example.com"}),
		"bad risk":         p.AddUser(fake.User{ID: "x", Risk: 9}),
		"set bad risk":     p.SetRisk("alice", -1),
		"update unknown":   p.UpdateUser("nobody", func(*fake.User) {}),
		"update nil":       p.UpdateUser("alice", nil),
		"update id":        p.UpdateUser("alice", func(u *fake.User) { u.ID = "mallory" }),
		"update login":     p.UpdateUser("alice", func(u *fake.User) { u.Login = "bob@example.com" }),
		"role def":         p.DefineRole(fake.RoleDef{ID: "x"}),
		"group def":        p.DefineGroup(fake.GroupDef{Name: "x"}),
		"group unknown":    p.AddToGroup("alice", "nope"),
		"group user":       p.AddToGroup("nobody", "g1"),
		"sign-in user":     p.AddSignIn("nobody", playbook.SignIn{}),
		"sign-in bad risk": p.AddSignIn("alice", playbook.SignIn{Risk: 7}),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := p.AssignRole("alice", "no such role", ""); !errors.Is(err, playbook.ErrNotFound) {
		t.Errorf("AssignRole of an undefined role: %v", err)
	}
	if _, err := p.AddSession("alice", playbook.Session{ID: "sess-3"}); err == nil {
		t.Error("a duplicate session id was accepted")
	}
	if u, _ := p.User("alice"); u.ID != "alice" || u.Login != "alice@example.com" {
		t.Errorf("a refused update changed alice: %+v", u)
	}
	a1, err := p.AssignRole("alice", "global-admin", "/")
	if err != nil || a1.ID != "ra-1" {
		t.Errorf("re-assigning a held role = %+v, %v; want the existing ra-1", a1, err)
	}

	// Readers return copies.
	u, _ := p.User("alice")
	u.Tags[0] = "changed"
	p.Sessions("alice")[0].ID = "changed"
	p.Roles("alice")[0].ID = "changed"
	if u2, _ := p.User("alice"); u2.Tags[0] != "executive" || p.Sessions("alice")[0].ID != "sess-3" || p.Roles("alice")[0].ID != "ra-1" {
		t.Error("a reader returned the provider's own data")
	}
	// Login changes free the old login.
	require.NoError(t, p.UpdateUser("alice", func(u *fake.User) { u.Login = "alice.new@example.com" }))
	require.NoError(t, p.AddUser(fake.User{ID: "alice2", Login: "alice@example.com"}))
	if p.Roles("nobody") != nil || p.Groups("nobody") != nil || p.Sessions("nobody") != nil || p.SignIns("nobody") != nil {
		t.Error("readers returned data for an unknown user")
	}
	if g := p.Groups("alice"); len(g) != 2 || g[0].ID != "g1" || g[1].ID != "g2" {
		t.Errorf("Groups = %+v", g)
	}
}

func TestScriptTrigger(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := fake.New()
		evs := []playbook.Event{
			{ID: "e1", Type: playbook.EventRiskyUser, Subject: playbook.Subject{ID: "alice"}},
			{ID: "e2", Type: playbook.EventRiskySignIn, Subject: playbook.Subject{Provider: "okta", ID: "bob"}},
			{ID: "e3", Type: playbook.EventRoleAssigned, Subject: playbook.Subject{ID: "carol"}},
		}
		s := p.Trigger(evs...)
		evs[0].ID = "changed by the caller"
		refused := errors.New("refused")
		var got []playbook.Event
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			done <- s.Run(ctx, func(_ context.Context, ev playbook.Event) error {
				got = append(got, ev)
				if ev.ID == "e2" {
					return refused
				}
				return nil
			})
		}()
		synctest.Wait()
		select {
		case <-s.Done():
		default:
			t.Fatal("Done not closed after every event was emitted")
		}
		select {
		case <-done:
			t.Fatal("Run returned before ctx ended")
		default:
		}
		ids := []string{}
		for _, ev := range got {
			ids = append(ids, ev.ID+"@"+ev.Subject.Provider)
		}
		if !slices.Equal(ids, []string{"e1@fake", "e2@okta", "e3@fake"}) {
			t.Fatalf("emitted %v", ids)
		}
		if r := s.Results(); len(r) != 3 || r[0] != nil || r[1] != refused || r[2] != nil {
			t.Fatalf("results %v", r)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v, want nil at ctx end", err)
		}
	})
}

func TestScriptRedeliversInterrupted(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := fake.New()
		s := p.Trigger(playbook.Event{ID: "e1"}, playbook.Event{ID: "e2"})
		ctx, cancel := context.WithCancel(t.Context())
		// The first runner stops while e2 is being handed over.
		err := s.Run(ctx, func(ctx context.Context, ev playbook.Event) error {
			if ev.ID == "e2" {
				cancel()
				return ctx.Err()
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var second []string
		ctx2, cancel2 := context.WithCancel(t.Context())
		go func() {
			synctest.Wait()
			cancel2()
		}()
		if err := s.Run(ctx2, func(_ context.Context, ev playbook.Event) error {
			second = append(second, ev.ID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(second, []string{"e2"}) {
			t.Fatalf("second Run emitted %v, want only the interrupted e2", second)
		}
	})
}

func TestFeed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := fake.New(fake.WithName("acme"))
		f := p.Feed()
		ctx, cancel := context.WithCancel(t.Context())
		refused := errors.New("duplicate")
		var got []playbook.Event
		done := make(chan error)
		go func() {
			done <- f.Run(ctx, func(_ context.Context, ev playbook.Event) error {
				got = append(got, ev)
				if ev.ID == "dup" {
					return refused
				}
				return nil
			})
		}()
		if err := f.Emit(t.Context(), playbook.Event{ID: "e1", Subject: playbook.Subject{ID: "alice"}}); err != nil {
			t.Fatal(err)
		}
		if err := f.Emit(t.Context(), playbook.Event{ID: "dup"}); err != refused {
			t.Fatalf("Emit = %v, want emit's error", err)
		}
		if len(got) != 2 || got[0].Subject.Provider != "acme" {
			t.Fatalf("got %+v", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// Nobody runs the feed now: Emit waits until its own ctx ends.
		ectx, ecancel := context.WithTimeout(t.Context(), time.Minute)
		defer ecancel()
		start := time.Now()
		if err := f.Emit(ectx, playbook.Event{ID: "late"}); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Minute {
			t.Fatalf("Emit without a runner = %v after %s", err, time.Since(start))
		}
	})
}

func TestTriggerNilEmit(t *testing.T) {
	t.Parallel()
	p := fake.New()
	if err := p.Trigger().Run(t.Context(), nil); err == nil {
		t.Error("Script.Run accepted a nil emit")
	}
	if err := p.Feed().Run(t.Context(), nil); err == nil {
		t.Error("Feed.Run accepted a nil emit")
	}
}
