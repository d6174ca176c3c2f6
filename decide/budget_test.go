package decide_test

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/playbook"
)

func TestBudgetConcurrent(t *testing.T) {
	t.Parallel()
	p, err := decide.Budget(fixed{d: containDecision}, decide.BudgetConfig{Max: 5, Window: time.Hour})
	require.NoError(t, err)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		count = map[playbook.Response]int{}
	)
	for i := range 100 {
		wg.Go(func() {
			c := newCase(playbook.EventRiskyUser, playbook.RiskHigh, playbook.Facts{})
			c.Now = t0.Add(time.Duration(i) * time.Second)
			d, err := p.Decide(t.Context(), c)
			if err != nil {
				t.Error(err)
				return
			}
			if d.Response == playbook.RespondApprove {
				if d.Rule != decide.RuleBudgetExceeded || !reflect.DeepEqual(d.Steps, containment) {
					t.Errorf("over-budget decision: %+v", d)
				}
			}
			mu.Lock()
			count[d.Response]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if count[playbook.RespondContain] != 5 || count[playbook.RespondApprove] != 95 || len(count) != 2 {
		t.Fatalf("responses = %v, want 5 contain and 95 approve", count)
	}
}

func TestBudgetWindowSlides(t *testing.T) {
	t.Parallel()
	p, err := decide.Budget(fixed{d: containDecision}, decide.BudgetConfig{Max: 2, Window: time.Hour, Approval: "flood"})
	require.NoError(t, err)
	steps := []struct {
		at       time.Duration
		wantResp playbook.Response
	}{
		{0, playbook.RespondContain},
		{10 * time.Minute, playbook.RespondContain},
		{20 * time.Minute, playbook.RespondApprove}, // 2 in the last hour
		{59 * time.Minute, playbook.RespondApprove},
		{60 * time.Minute, playbook.RespondContain}, // the one at 0 left the window
		{65 * time.Minute, playbook.RespondApprove}, // 10m and 60m are in it
		{70 * time.Minute, playbook.RespondContain}, // 10m left
		{5 * time.Minute, playbook.RespondApprove},  // decided late: later containments count
		{200 * time.Minute, playbook.RespondContain},
		{201 * time.Minute, playbook.RespondContain},
		{202 * time.Minute, playbook.RespondApprove},
	}
	for _, s := range steps {
		c := newCase(playbook.EventRiskyUser, playbook.RiskHigh, playbook.Facts{})
		c.Now = t0.Add(s.at)
		d := decideOK(t, p, c)
		if d.Response != s.wantResp {
			t.Fatalf("at +%v: %s, want %s", s.at, d.Response, s.wantResp)
		}
		if d.Response == playbook.RespondApprove {
			if d.Rule != decide.RuleBudgetExceeded || d.Approval != "flood" {
				t.Errorf("at +%v: rule %q approval %q", s.at, d.Rule, d.Approval)
			}
			if len(d.Notes) != 1 || !strings.Contains(d.Notes[0], `2 automatic containments in the last 1h0m0s (max 2); rule "inner/contain"`) {
				t.Errorf("at +%v: notes %q", s.at, d.Notes)
			}
		} else if d.Rule != "inner/contain" || len(d.Notes) != 0 {
			t.Errorf("at +%v: allowed containment changed: %+v", s.at, d)
		}
	}
}

func TestBudgetOnlyContainConsumes(t *testing.T) {
	t.Parallel()
	inner, err := decide.Matrix(decide.MatrixConfig{})
	require.NoError(t, err)
	p, err := decide.Budget(inner, decide.BudgetConfig{Max: 1, Window: time.Hour})
	require.NoError(t, err)
	for _, priv := range []playbook.Privilege{playbook.PrivilegePrivileged, playbook.PrivilegeUnknown} {
		for range 3 {
			d := decideOK(t, p, newCase(playbook.EventRiskyUser, playbook.RiskHigh, playbook.Facts{Privilege: priv}))
			if d.Rule == decide.RuleBudgetExceeded {
				t.Fatalf("approval consumed budget: %+v", d)
			}
		}
	}
	for range 3 {
		d := decideOK(t, p, newCase(playbook.EventRiskyUser, playbook.RiskMedium, playbook.Facts{Privilege: playbook.PrivilegeStandard}))
		if d.Response != playbook.RespondMonitor {
			t.Fatalf("monitor changed: %+v", d)
		}
	}
	std := playbook.Facts{Privilege: playbook.PrivilegeStandard}
	if d := decideOK(t, p, newCase(playbook.EventRiskyUser, playbook.RiskHigh, std)); d.Response != playbook.RespondContain {
		t.Fatalf("first containment refused: %+v", d)
	}
	if d := decideOK(t, p, newCase(playbook.EventRiskyUser, playbook.RiskHigh, std)); d.Response != playbook.RespondApprove || d.Rule != decide.RuleBudgetExceeded {
		t.Fatalf("second containment allowed: %+v", d)
	}
}

func TestBudgetErrorsAndNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		p       playbook.Policy
		cfg     decide.BudgetConfig
		wantErr string
	}{
		{"nil policy", nil, decide.BudgetConfig{Max: 1, Window: time.Hour}, "Budget: policy is nil"},
		{"zero max", fixed{}, decide.BudgetConfig{Window: time.Hour}, "BudgetConfig.Max is 0"},
		{"negative max", fixed{}, decide.BudgetConfig{Max: -1, Window: time.Hour}, "BudgetConfig.Max is -1"},
		{"zero window", fixed{}, decide.BudgetConfig{Max: 1}, "BudgetConfig.Window is 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := decide.Budget(tt.p, tt.cfg)
			require.ErrorContains(t, err, tt.wantErr)
			if p != nil {
				t.Error("policy returned with an error")
			}
		})
	}
	boom := errors.New("boom")
	p, err := decide.Budget(fixed{err: boom}, decide.BudgetConfig{Max: 1, Window: time.Hour})
	require.NoError(t, err)
	if _, err := p.Decide(t.Context(), newCase(playbook.EventRiskyUser, playbook.RiskHigh, playbook.Facts{})); !errors.Is(err, boom) {
		t.Errorf("inner error lost: %v", err)
	}
	if _, err := p.Decide(t.Context(), nil); err == nil {
		t.Error("nil case: no error")
	}
	r, err := decide.NewRules(nil, decide.Rule{Name: "inner/contain", Decision: containDecision})
	require.NoError(t, err)
	b, err := decide.Budget(r, decide.BudgetConfig{Max: 1, Window: time.Hour})
	require.NoError(t, err)
	n, ok := b.(playbook.ActionNamer)
	if !ok || !reflect.DeepEqual(n.ActionNames(), r.ActionNames()) {
		t.Errorf("Budget lost the inner ActionNamer (ok=%v)", ok)
	}
}
