package fake

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// OpSweep is the operation name of a hygiene sweep, for the call log and
// fault injection.
const OpSweep = "hygiene-sweep"

// SweepConfig says what a hygiene sweep looks for.
type SweepConfig struct {
	// DormantAfter is how long a privileged account may go without a
	// successful sign-in before it is reported dormant. Zero means 90
	// days.
	DormantAfter time.Duration
}

// Sweep returns a playbook.SweepFunc over the directory, for a
// playbook.Schedule. It reports, as events with stable ids (type, user and
// day of the sweep):
//
//   - a disabled account that still holds sessions
//     (playbook.EventDisabledWithSessions, high risk: its sessions should go);
//   - a privileged account (holding a privileged role) with no successful
//     sign-in within DormantAfter, counted from its creation when it never
//     signed in (playbook.EventDormantPrivileged, medium risk; an account
//     with neither a creation time nor a sign-in is not judged);
//   - an enabled account with no manager that is not tagged
//     "service-account" (playbook.EventOrphanedAccount, low risk).
//
// Findings come in user id order. The sweep is a read: it is logged under
// OpSweep and honours faults injected there.
func (p *Provider) Sweep(cfg SweepConfig) playbook.SweepFunc {
	dormant := cfg.DormantAfter
	if dormant == 0 {
		dormant = 90 * 24 * time.Hour
	}
	return func(ctx context.Context, now time.Time) ([]playbook.Event, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := p.inject(ctx, OpSweep); err != nil {
			p.record(Call{Op: OpSweep, Err: err})
			return nil, err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.recordLocked(Call{Op: OpSweep})
		day := now.UTC().Format("2006-01-02")
		ids := make([]string, 0, len(p.users))
		for id := range p.users {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		var out []playbook.Event
		finding := func(t playbook.EventType, st *userState, risk playbook.RiskLevel, reason string, attrs map[string]string) {
			u := st.user
			out = append(out, playbook.Event{
				ID: fmt.Sprintf("%s/%s/%s", t, u.ID, day), Type: t, Source: OpSweep, Risk: risk, Reason: reason,
				Subject:    playbook.Subject{Provider: p.name, ID: u.ID, Login: u.Login, DisplayName: u.DisplayName},
				OccurredAt: now.UTC(), Attributes: attrs,
			})
		}
		for _, id := range ids {
			st := p.users[id]
			u := st.user
			if u.Disabled && len(st.sessions) > 0 {
				finding(playbook.EventDisabledWithSessions, st, playbook.RiskHigh, "disabled account holds live sessions",
					map[string]string{"sessions": strconv.Itoa(len(st.sessions))})
			}
			if !u.Disabled && p.privilegedLocked(st) {
				last := u.CreatedAt
				for _, s := range st.signIns {
					if s.Success && s.Time.After(last) {
						last = s.Time
					}
				}
				if !last.IsZero() && now.Sub(last) >= dormant {
					finding(playbook.EventDormantPrivileged, st, playbook.RiskMedium, "privileged account unused",
						map[string]string{"last_sign_in": last.UTC().Format(time.RFC3339), "idle_days": strconv.Itoa(int(now.Sub(last).Hours() / 24))})
				}
			}
			if !u.Disabled && u.Manager == "" && !slices.Contains(u.Tags, "service-account") {
				finding(playbook.EventOrphanedAccount, st, playbook.RiskLow, "account has no manager", nil)
			}
		}
		return out, nil
	}
}

// privilegedLocked reports whether the user holds a privileged role.
func (p *Provider) privilegedLocked(st *userState) bool {
	for _, a := range st.assignments {
		if a.Role.Privileged {
			return true
		}
	}
	return false
}
