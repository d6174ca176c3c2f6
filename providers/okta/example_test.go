package okta_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/cursor"
	"github.com/iamplaybook/iamplaybook/providers/okta"
	"github.com/iamplaybook/iamplaybook/providers/okta/oktatest"
)

func ExampleParseDebugMap() {
	risk := "{previousLevel=LOW, level=HIGH, detectionName=Session Influenced User Risk, reasons=Anomalous Location, New Device, issuer=OKTA}"
	m, err := okta.ParseDebugMap(risk)
	if err != nil {
		panic(err)
	}
	fmt.Println(m["level"])
	fmt.Println(m["reasons"])
	// Output:
	// HIGH
	// Anomalous Location, New Device
}

func ExampleParseThreatDetections() {
	d, err := okta.ParseThreatDetections(`{"Password Spray":"HIGH"}`)
	if err != nil {
		panic(err)
	}
	fmt.Println(d["Password Spray"])
	// Output: HIGH
}

func ExampleMapper_Map() {
	e, err := okta.DecodeLogEvent([]byte(`{
	  "uuid": "2b0f7c1e-0000-4000-8000-000000000001",
	  "published": "2024-05-01T10:00:00.000Z",
	  "eventType": "user.risk.detect",
	  "actor": {"id": "0oa1itp", "type": "PublicClientApp", "alternateId": "Okta ITP"},
	  "target": [{"id": "00u1ana", "type": "User", "alternateId": "ana@example.com", "displayName": "Ana"}],
	  "debugContext": {"debugData": {"risk": "{previousLevel=LOW, level=HIGH, detectionName=Entity Critical Action, issuer=OKTA}"}}
	}`))
	if err != nil {
		panic(err)
	}
	ev, ok, err := okta.NewMapper(okta.MapperConfig{}).Map(e)
	if err != nil || !ok {
		panic(err)
	}
	fmt.Println(ev.Type, ev.Risk, ev.Subject.Key(), ev.Reason)
	// Output: risk.user high okta:00u1ana Entity Critical Action
}

func ExampleDecodeEventHook() {
	body := []byte(`{"eventType":"com.okta.event_hook","eventId":"e1","data":{"events":[
	  {"uuid":"u1","published":"2024-05-01T10:00:00Z","eventType":"user.session.start","actor":{"id":"00u1","type":"User"}}]}}`)
	h, err := okta.DecodeEventHook(body)
	if err != nil {
		panic(err)
	}
	fmt.Println(h.EventID, len(h.Events), h.Events[0].EventType)
	// Output: e1 1 user.session.start
}

// Suspend a user, then repeat: the second call finds the user suspended.
func ExampleProvider_Actions() {
	srv := oktatest.NewServer(oktatest.Options{APIToken: "example-token"})
	defer srv.Close()
	id, _ := srv.AddUser(oktatest.UserSpec{Login: "ana@example.com"})

	c, err := okta.New(okta.Config{OrgURL: srv.URL, APIToken: "example-token", HTTPClient: srv.HTTPClient()})
	if err != nil {
		panic(err)
	}
	p, err := okta.NewProvider(c, okta.ProviderConfig{})
	if err != nil {
		panic(err)
	}
	disable := p.Actions()[playbook.ActionDisableUser]
	for _, key := range []string{"run-1/contain/0", "run-2/contain/0"} {
		res, err := disable.Execute(context.Background(), playbook.ActionRequest{IdempotencyKey: key, Subject: c.Subject(id), Attempt: 1})
		if err != nil {
			panic(err)
		}
		fmt.Println(res.Status)
	}
	u, _ := srv.User(id)
	fmt.Println(u.Status)
	// Output:
	// applied
	// already-applied
	// SUSPENDED
}

// Enrich a case: a SUPER_ADMIN is privileged.
func ExampleProvider_Enrichers() {
	srv := oktatest.NewServer(oktatest.Options{APIToken: "example-token"})
	defer srv.Close()
	id, _ := srv.AddUser(oktatest.UserSpec{Login: "root@example.com", FirstName: "Ro", LastName: "Ot"})
	_, _ = srv.AssignRole(id, okta.RoleSuperAdmin)
	c, _ := okta.New(okta.Config{OrgURL: srv.URL, APIToken: "example-token", HTTPClient: srv.HTTPClient()})
	p, _ := okta.NewProvider(c, okta.ProviderConfig{})

	cs := playbook.NewCase("run-1", playbook.Event{Subject: c.Subject(id)})
	for _, name := range []string{okta.EnricherProfile, okta.EnricherRoles} {
		if err := p.Enrichers()[name].Enrich(context.Background(), cs); err != nil {
			panic(err)
		}
	}
	fmt.Println(cs.Facts.Profile.DisplayName, cs.Facts.Profile.Status, cs.Facts.Privilege, cs.Facts.Roles[0].Template)
	// Output: Ro Ot ACTIVE privileged SUPER_ADMIN
}

// Poll the System Log and hand ITP signals to the runner (here, print
// them).
func ExampleProvider_Poller() {
	srv := oktatest.NewServer(oktatest.Options{APIToken: "example-token"})
	defer srv.Close()
	start := time.Now().Add(-time.Minute)
	srv.AddLogEvent(okta.LogEvent{EventType: okta.EventUserRiskDetect,
		Target:       []okta.Actor{{ID: "00u1ana", Type: "User", AlternateID: "ana@example.com"}},
		DebugContext: &okta.DebugContext{DebugData: map[string]json.RawMessage{"risk": json.RawMessage(`"{level=HIGH, detectionName=Entity Critical Action}"`)}}})

	c, _ := okta.New(okta.Config{OrgURL: srv.URL, APIToken: "example-token", HTTPClient: srv.HTTPClient()})
	p, _ := okta.NewProvider(c, okta.ProviderConfig{})
	poller, err := p.Poller(okta.PollerConfig{Since: start, Store: &cursor.Memory{}})
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	_ = poller.Run(ctx, func(_ context.Context, ev playbook.Event) error {
		fmt.Println(ev.Type, ev.Risk, ev.Subject.ID, ev.Source)
		stop()
		return nil
	})
	// Output: risk.user high 00u1ana okta/system-log
}

// Serve Okta Event Hooks: verification, then a delivery.
func ExampleProvider_HookReceiver() {
	srv := oktatest.NewServer(oktatest.Options{APIToken: "example-token"})
	defer srv.Close()
	c, _ := okta.New(okta.Config{OrgURL: srv.URL, APIToken: "example-token", HTTPClient: srv.HTTPClient()})
	p, _ := okta.NewProvider(c, okta.ProviderConfig{})
	got := make(chan playbook.Event, 1)
	hook, err := p.HookReceiver(okta.HookConfig{Secret: "shared-secret", Submit: func(_ context.Context, ev playbook.Event) error {
		got <- ev
		return nil
	}})
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _ = hook.Run(ctx, nil) }()
	endpoint := httptest.NewServer(hook)
	defer endpoint.Close()

	err = oktatest.VerifyEventHook(ctx, http.DefaultClient, endpoint.URL, okta.DefaultHookHeader, "shared-secret")
	fmt.Println("verified:", err == nil)
	ev := srv.AddLogEvent(okta.LogEvent{EventType: okta.EventSessionContextChange,
		Target: []okta.Actor{{ID: "00u1ana", Type: "User"}}, DebugContext: &okta.DebugContext{DebugData: map[string]json.RawMessage{"Causes": json.RawMessage(`"ipAddress.change"`)}}})
	for {
		status, err := oktatest.PostEventHook(ctx, http.DefaultClient, endpoint.URL, okta.DefaultHookHeader, "shared-secret", srv.EventHookBody(ev))
		if err != nil || status != http.StatusServiceUnavailable { // 503 until Run has started
			fmt.Println("status:", status)
			break
		}
	}
	e := <-got
	fmt.Println(e.Type, e.Subject.ID, e.Attributes[okta.AttrCauses])
	// Output:
	// verified: true
	// status: 200
	// risk.session 00u1ana ipAddress.change
}
