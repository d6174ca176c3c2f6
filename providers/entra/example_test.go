package entra_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/cursor"
	"github.com/iamplaybook/iamplaybook/providers/entra"
	"github.com/iamplaybook/iamplaybook/providers/entra/entratest"
)

// A host that receives Graph records another way (Event Hubs, a SIEM
// export) maps them with the same decoders as the triggers.
func ExampleDecodeRiskDetection() {
	raw, err := os.ReadFile(filepath.Join("testdata", "live-riskDetection.json"))
	if err != nil {
		panic(err)
	}
	ev, err := entra.DecodeRiskDetection(raw)
	if err != nil {
		fmt.Println("bad record:", err)
		return
	}
	fmt.Println(ev.Type, ev.Subject.Login, ev.Risk, ev.Reason)
	fmt.Println(ev.Attributes["ip"], ev.Attributes["location"], ev.Attributes["info.mitreTechniques"])
	fmt.Println(ev.OccurredAt.Format(time.RFC3339Nano))

	_, err = entra.DecodeRiskDetection([]byte(`{"id":"x"}`))
	fmt.Println(err)
	// Output:
	// risk.signin ana@contoso.example high unfamiliarFeatures
	// 203.0.113.77 Lagos, Lagos, NG T1078.004
	// 2026-07-17T08:41:12.4410397Z
	// entra: bad Graph record: riskDetection: x names no userId
}

// Directory audits become privilege events when they grant a privileged
// role, add to a privileged group or change directory configuration.
func ExampleDecodeDirectoryAudit() {
	raw, err := os.ReadFile(filepath.Join("testdata", "live-directoryAudit-add-member-to-role.json"))
	if err != nil {
		panic(err)
	}
	ev, ok, err := entra.DecodeDirectoryAudit(raw, entra.AuditOptions{PrivilegedRoles: []string{entra.GlobalAdministratorTemplateID}})
	if err != nil || !ok {
		fmt.Println(ok, err)
		return
	}
	fmt.Println(ev.Type, ev.Subject.Login, ev.Risk, ev.Attributes["role_name"], ev.Attributes["privileged"])
	fmt.Println("by", ev.Actor)
	// Output:
	// privilege.role_assigned ray@contoso.example medium Global Administrator true
	// by 9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a
}

// Graph's Retry-After may be fractional.
func ExampleParseRetryAfter() {
	d, ok := entra.ParseRetryAfter("2.128", time.Now())
	fmt.Println(d, ok)
	// Output: 2.128s true
}

// A client against the emulator: contain a user, then undo it.
func ExampleNew() {
	emu := entratest.New(entratest.Options{})
	emu.Start()
	defer emu.Close()
	_ = emu.AddSecretApp("app-id", "app-secret")
	ana, _ := emu.AddUser(entratest.User{UserPrincipalName: "ana@contoso.example", DisplayName: "Ana Souza", Sessions: 2})

	c, err := entra.New(entra.Config{TenantID: emu.TenantID(), ClientID: "app-id", ClientSecret: "app-secret",
		GraphURL: emu.GraphURL(), TokenURL: emu.TokenURL()})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	// Retries honour Graph's Retry-After.
	disable := contain.Retry(c.Actions()[playbook.ActionDisableUser], contain.RetryPolicy{})
	req := playbook.ActionRequest{RunID: "r1", StepID: "contain/0/disable-user", IdempotencyKey: "r1/0",
		Subject: playbook.Subject{Provider: entra.ProviderName, ID: ana}, Attempt: 1}
	res, err := disable.Execute(ctx, req)
	fmt.Println(res.Status, err)
	res2, _ := disable.Execute(ctx, req)
	fmt.Println(res2.Status)
	u, _ := emu.User(ana)
	fmt.Println("disabled:", u.Disabled)

	undo, _ := contain.Undo(ctx, disable, playbook.ActionRequest{Subject: req.Subject, IdempotencyKey: "r1/0/undo"}, res)
	u, _ = emu.User(ana)
	fmt.Println(undo.Status, "disabled:", u.Disabled)
	// Output:
	// applied <nil>
	// already-applied
	// disabled: true
	// undone disabled: false
}

// A trigger polls Identity Protection and keeps its cursor in a file, so
// that a restarted host resumes where it stopped.
func ExampleClient_RiskDetectionsTrigger() {
	emu := entratest.New(entratest.Options{})
	emu.Start()
	defer emu.Close()
	_ = emu.AddSecretApp("app-id", "app-secret")
	ana, _ := emu.AddUser(entratest.User{UserPrincipalName: "ana@contoso.example"})
	_, _ = emu.AddRiskDetection(entratest.RiskDetection{ID: "det-1", UserID: ana, RiskEventType: "leakedCredentials", RiskLevel: "high"})

	c, _ := entra.New(entra.Config{TenantID: emu.TenantID(), ClientID: "app-id", ClientSecret: "app-secret",
		GraphURL: emu.GraphURL(), TokenURL: emu.TokenURL()})
	dir, _ := os.MkdirTemp("", "cursors")
	defer os.RemoveAll(dir)
	// Any cursor.Store: a host with a SQLite run store passes that.
	cursors, _ := cursor.OpenFile(filepath.Join(dir, "cursors.json"))
	trigger := c.RiskDetectionsTrigger(entra.PollOptions{Interval: time.Minute, Cursors: cursors})

	emit := func(_ context.Context, ev playbook.Event) error {
		fmt.Println(ev.ID, ev.Type, ev.Subject.Login, ev.Risk)
		return nil
	}
	// A host passes trigger to playbook.Playbook.Triggers; here, one poll.
	if err := trigger.Poll(context.Background(), emit); err != nil {
		fmt.Println(err)
	}
	// Output: det-1 risk.credential_compromise ana@contoso.example high
}
