package ssf_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"time"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/ssf"
	"github.com/iamplaybook/iamplaybook/providers/ssf/ssftest"
	"github.com/iamplaybook/iamplaybook/store"
)

// Parse the claims of Okta's identifier-changed example: the subject sits
// inside the event and event_timestamp is in milliseconds.
func ExampleParseClaims() {
	raw, err := os.ReadFile("testdata/okta-ssf-receiver-risc-identifier-changed.json")
	if err != nil {
		panic(err)
	}
	set, err := ssf.ParseClaims(raw)
	if err != nil {
		panic(err)
	}
	e := set.Events[0]
	sub, _ := set.SubjectOf(e)
	p, _ := sub.Principal()
	fmt.Println(e.Type)
	fmt.Println(p)
	fmt.Println(e.Timestamp.Format(time.RFC3339Nano))
	fmt.Println(e.String("new-value"))
	// Output:
	// https://schemas.openid.net/secevent/risc/event-type/identifier-changed
	// email:john@doe.net
	// 2021-03-09T15:49:51.643Z
	// john.roe@example.com
}

// A complex subject names a user and the session and tenant it was in; the
// user is the principal a playbook acts on.
func ExampleParseSubjectID() {
	id, err := ssf.ParseSubjectID([]byte(`{"format":"complex",
		"user":{"format":"iss_sub","iss":"https://idp.example/","sub":"99beb27c"},
		"session":{"format":"opaque","id":"s-1"}}`))
	if err != nil {
		panic(err)
	}
	p, _ := id.Principal()
	fmt.Println(p, id.Session)
	_, err = ssf.ParseSubjectID([]byte(`{"format":"email"}`))
	fmt.Println(err)
	// Output:
	// iss_sub:https://idp.example/|99beb27c opaque:s-1
	// subject identifier of format "email" lacks "email"
}

// A push receiver in front of a runner: a signed RISC credential-compromise
// SET starts a run; the same SET forged is refused with
// authentication_failed and audited.
func ExampleNew() {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tx, err := ssftest.New(ssftest.Options{Audience: "https://receiver.example"})
	if err != nil {
		panic(err)
	}
	defer tx.Close()

	trail := audit.NewMemory()
	st := store.NewMemory()
	runner, err := playbook.NewRunner(playbook.Playbook{
		Name: "ssf",
		Policy: playbook.PolicyFunc(func(context.Context, *playbook.Case) (playbook.Decision, error) {
			return playbook.Decision{Response: playbook.RespondLog, Rule: "log"}, nil
		}),
		Audit: []playbook.AuditSink{trail},
	}, playbook.Options{Store: st, Logger: quiet})
	if err != nil {
		panic(err)
	}

	md, err := ssf.Discover(ctx, tx.Client(), tx.Issuer)
	if err != nil {
		panic(err)
	}
	keys, err := ssf.NewKeySet(md.JWKSURI, ssf.KeySetOptions{Client: tx.Client()})
	if err != nil {
		panic(err)
	}
	v, err := ssf.NewVerifier(ssf.VerifierConfig{Issuer: md.Issuer, Audience: []string{"https://receiver.example"}, Keys: keys})
	if err != nil {
		panic(err)
	}
	rcv, err := ssf.New(ssf.Config{Verifier: v, Handle: runner.Handle, Audit: trail, Logger: quiet})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(rcv)
	defer srv.Close()

	claims := tx.NewSET(ssf.RISCCredentialCompromise, map[string]any{"credential_type": "password"},
		map[string]any{"format": "email", "email": "ana@contoso.example"})
	res, err := tx.Push(ctx, nil, srv.URL, tx.MustSign(claims), "")
	if err != nil {
		panic(err)
	}
	fmt.Println("signed:", res.Status)

	forged, _ := ssftest.Forge(tx.MustSign(claims), tx.NewSET(ssf.RISCCredentialCompromise, nil, map[string]any{"format": "email", "email": "ceo@contoso.example"}))
	res, err = tx.Push(ctx, nil, srv.URL, forged, "")
	if err != nil {
		panic(err)
	}
	fmt.Println("forged:", res.Status, res.Err)

	runs, _ := st.ListRuns(ctx, playbook.RunFilter{})
	for _, r := range runs {
		fmt.Println("run:", r.Event.Type, r.Event.Risk, r.Subject)
	}
	fmt.Println("rejections audited:", len(trail.Filter(func(r audit.Record) bool { return r.Type == audit.TypeEventRejected })))
	// Output:
	// signed: 202
	// forged: 400 authentication_failed
	// run: risk.credential_compromise high ssf:ana@contoso.example
	// rejections audited: 1
}

// A poller fetches SETs and acknowledges each one in its next request,
// once the runner has accepted its event.
func ExampleNewPoller() {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tx, err := ssftest.New(ssftest.Options{})
	if err != nil {
		panic(err)
	}
	defer tx.Close()
	keys, _ := ssf.NewKeySet(tx.JWKSURI(), ssf.KeySetOptions{Client: tx.Client()})
	v, _ := ssf.NewVerifier(ssf.VerifierConfig{Issuer: tx.Issuer, Audience: []string{tx.Audience()}, Keys: keys})
	runner, _ := playbook.NewRunner(playbook.Playbook{
		Name: "ssf",
		Policy: playbook.PolicyFunc(func(context.Context, *playbook.Case) (playbook.Decision, error) {
			return playbook.Decision{Response: playbook.RespondLog, Rule: "log"}, nil
		}),
		Audit: []playbook.AuditSink{audit.Discard},
	}, playbook.Options{Store: store.NewMemory(), Logger: quiet})
	rcv, _ := ssf.New(ssf.Config{Verifier: v, Handle: runner.Handle, Audit: audit.Discard, Logger: quiet})

	claims := tx.NewSET(ssf.CAEPRiskLevelChange, map[string]any{"principal": "USER", "current_level": "HIGH"},
		map[string]any{"format": "iss_sub", "iss": tx.Issuer, "sub": "u-42"})
	tx.Enqueue(claims["jti"].(string), tx.MustSign(claims))

	p, err := ssf.NewPoller(rcv, ssf.PollerConfig{Endpoint: tx.PollURL(), Client: tx.Client(), ReturnImmediately: true, Logger: quiet})
	if err != nil {
		panic(err)
	}
	rep, _ := p.Poll(ctx)
	for _, res := range rep.Results {
		fmt.Println("first poll:", res.Outcome)
	}
	rep, _ = p.Poll(ctx)
	fmt.Println("second poll acknowledged:", rep.Acked, "pending at the transmitter:", len(tx.Pending()))
	// Output:
	// first poll: accepted
	// second poll acknowledged: 1 pending at the transmitter: 0
}

// Manage the receiver's stream: create it, read its status, and ask for a
// verification event.
func ExampleNewStreamClient() {
	ctx := context.Background()
	tx, err := ssftest.New(ssftest.Options{Token: "t0k"})
	if err != nil {
		panic(err)
	}
	defer tx.Close()
	md, err := ssf.Discover(ctx, tx.Client(), tx.Issuer)
	if err != nil {
		panic(err)
	}
	sc, err := ssf.NewStreamClient(md, tx.Client(), "Bearer t0k")
	if err != nil {
		panic(err)
	}
	s, err := sc.CreateStream(ctx, ssf.StreamConfig{EventsRequested: []string{ssf.RISCCredentialCompromise}})
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Delivery.Method, s.Delivery.EndpointURL == tx.PollURL())
	st, _ := sc.Status(ctx, s.StreamID)
	fmt.Println(st.Status)
	fmt.Println(sc.RequestVerification(ctx, s.StreamID, "hello"), len(tx.Pending()))
	// Output:
	// urn:ietf:rfc:8936 true
	// enabled
	// <nil> 1
}
