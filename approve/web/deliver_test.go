package web_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/approve/web"
	"github.com/iamplaybook/iamplaybook/playbook"
)

func invitation(kind playbook.NoticeKind, tier int) web.Invitation {
	return web.Invitation{Approver: "lead@example.com", URL: "https://approvals.example/approve?a=r1%3Aapproval",
		Request: playbook.ApprovalRequest{ID: "r1:approval", Subject: playbook.Subject{Provider: "okta", ID: "00u1", Login: "root@example.com"},
			Risk: playbook.RiskHigh, Deadline: time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)},
		Kind: kind, Tier: tier}
}

func TestLogDeliver(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		inv  web.Invitation
		want string
	}{
		{"new request", invitation("", 0), `msg="approval requested"`},
		{"reminder", invitation(playbook.NoticeReminder, 0), `msg="approval reminder"`},
		{"escalation", invitation(playbook.NoticeEscalation, 2), `msg="approval escalated to tier 2"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			d := web.LogDeliver(slog.New(slog.NewTextHandler(&buf, nil)))
			require.NoError(t, d(t.Context(), tt.inv))
			out := buf.String()
			assert.Contains(t, out, tt.want)
			for _, field := range []string{"approval_id=r1:approval", "subject=okta:00u1", "approver=lead@example.com", `url="https://approvals.example/approve`} {
				assert.Contains(t, out, field, "the log names what the approver needs")
			}
		})
	}
}

func TestDeliveriesTriesEveryChannel(t *testing.T) {
	t.Parallel()
	chatDown := errors.New("chat is down")
	pagerDown := errors.New("pager is down")
	tests := []struct {
		name    string
		results []error
		want    []error
	}{
		{"all delivered", []error{nil, nil}, nil},
		{"first fails, second still tried", []error{chatDown, nil}, []error{chatDown}},
		{"both fail, both reported", []error{chatDown, pagerDown}, []error{chatDown, pagerDown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			var ds []web.Deliver
			for _, res := range tt.results {
				ds = append(ds, func(context.Context, web.Invitation) error { calls++; return res })
			}
			ds = append(ds, nil) // skipped
			err := web.Deliveries(ds...)(t.Context(), invitation("", 0))
			assert.Equal(t, len(tt.results), calls, "every channel is tried")
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			for _, w := range tt.want {
				assert.ErrorIs(t, err, w)
			}
		})
	}
}
