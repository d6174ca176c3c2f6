package entratest_test

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/iamplaybook/iamplaybook/providers/entra/entratest"
)

// An emulator seeded with a tenant's people, served on a loopback server.
func Example() {
	emu := entratest.New(entratest.Options{})
	emu.Start()
	defer emu.Close()
	_ = emu.AddSecretApp("app-id", "app-secret")
	gus, _ := emu.AddUser(entratest.User{UserPrincipalName: "gus@contoso.example", DisplayName: "Gus Admin"})
	_, _ = emu.AssignRole(gus, entratest.GlobalAdministrator)

	resp, err := http.PostForm(emu.TokenURL(), url.Values{"grant_type": {"client_credentials"}, "client_id": {"app-id"},
		"client_secret": {"app-secret"}, "scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("token:", resp.StatusCode)
	fmt.Println("Global Administrator:", emu.HasRole(gus, "Global Administrator"))
	// Output:
	// token: 200
	// Global Administrator: true
}
