package fake_test

import (
	"context"
	"fmt"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/fake"
)

// A hygiene sweep on a schedule: a playbook lists the Schedule among its
// Triggers; here its emit prints the findings of the first sweep.
func ExampleProvider_Sweep() {
	idp := fake.New()
	_ = idp.AddUser(fake.User{ID: "sam", Login: "sam@example.com", Manager: "lead", Disabled: true})
	_, _ = idp.AddSession("sam", playbook.Session{ID: "s1"})
	_ = idp.AddUser(fake.User{ID: "ana", Login: "ana@example.com", Manager: "lead"})

	ctx, stop := context.WithCancel(context.Background())
	sched := playbook.Schedule{
		Interval: 6 * time.Hour,
		Sweep:    idp.Sweep(fake.SweepConfig{DormantAfter: 30 * 24 * time.Hour}),
		OnError:  func(err error) { fmt.Println("sweep failed:", err) },
	}
	_ = sched.Run(ctx, func(ctx context.Context, ev playbook.Event) error {
		fmt.Println(ev.Type, ev.Subject.Login, ev.Risk, ev.Attributes["sessions"])
		stop() // one sweep is enough for the example
		return nil
	})
	// Output: hygiene.disabled_with_sessions sam@example.com high 1
}
