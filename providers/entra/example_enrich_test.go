package entra_test

import (
	"context"
	"fmt"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/entra"
	"github.com/iamplaybook/iamplaybook/providers/entra/entratest"
)

// The enrichers fill a case's facts from Graph; a Global Administrator is
// privileged.
func ExampleClient_Enrichers() {
	emu := entratest.New(entratest.Options{})
	emu.Start()
	defer emu.Close()
	_ = emu.AddSecretApp("app-id", "app-secret")
	lead, _ := emu.AddUser(entratest.User{UserPrincipalName: "lead@contoso.example"})
	gus, _ := emu.AddUser(entratest.User{UserPrincipalName: "gus@contoso.example", DisplayName: "Gus Admin", Department: "IT", ManagerID: lead})
	_, _ = emu.AssignRole(gus, entratest.GlobalAdministrator)

	c, _ := entra.New(entra.Config{TenantID: emu.TenantID(), ClientID: "app-id", ClientSecret: "app-secret",
		GraphURL: emu.GraphURL(), TokenURL: emu.TokenURL()})
	cs := playbook.NewCase("run-1", playbook.Event{Type: playbook.EventRiskySignIn, Subject: playbook.Subject{Provider: entra.ProviderName, ID: gus}})
	for _, name := range []string{"profile", "roles"} {
		if err := c.Enrichers()[name].Enrich(context.Background(), cs); err != nil {
			fmt.Println(name, err)
		}
	}
	f := cs.Snapshot()
	fmt.Println(f.Profile.Login, f.Profile.Department, f.Profile.Manager, f.Profile.Enabled)
	fmt.Println(f.Privilege, f.Roles[0].Name, f.Roles[0].Template == entra.GlobalAdministratorTemplateID)
	// Output:
	// gus@contoso.example IT lead@contoso.example true
	// privileged Global Administrator true
}

// Graph limits Identity Protection to one request per second per tenant
// for all apps together: clients of one tenant share a limiter.
func ExampleLimiter() {
	shared := entra.NewLimiter(time.Second)
	cfg := entra.Config{TenantID: "contoso.example", ClientID: "app-id", ClientSecret: "app-secret", IdentityProtectionLimiter: shared}
	responder, err1 := entra.New(cfg)
	reporter, err2 := entra.New(cfg)
	fmt.Println(responder != nil && reporter != nil, err1, err2, shared.Interval())
	// Output: true <nil> <nil> 1s
}
