package oktatest_test

import (
	"context"
	"fmt"

	"github.com/iamplaybook/iamplaybook/providers/okta"
	"github.com/iamplaybook/iamplaybook/providers/okta/oktatest"
)

// An emulated org: seed it, point the client at it, inspect it.
func Example() {
	srv := oktatest.NewServer(oktatest.Options{APIToken: "example-token"})
	defer srv.Close()
	id, _ := srv.AddUser(oktatest.UserSpec{Login: "ana@example.com", FirstName: "Ana"})
	_, _ = srv.AddSession(id, "203.0.113.7")

	c, _ := okta.New(okta.Config{OrgURL: srv.URL, APIToken: "example-token", HTTPClient: srv.HTTPClient()})
	u, err := c.GetUser(context.Background(), id)
	if err != nil {
		panic(err)
	}
	fmt.Println(u.Profile.Login, u.Status, srv.Sessions(id))
	for _, e := range srv.LogEvents() {
		fmt.Println(e.EventType, e.Actor.AlternateID)
	}
	// Output:
	// ana@example.com ACTIVE 1
	// user.session.start ana@example.com
}
