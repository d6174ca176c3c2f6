package ssftest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/iamplaybook/iamplaybook/providers/ssf"
	"github.com/iamplaybook/iamplaybook/providers/ssf/ssftest"
)

// A transmitter signs a SET, rotates its key, and pushes to an endpoint;
// the endpoint here only reports what it received.
func Example() {
	tx, err := ssftest.New(ssftest.Options{})
	if err != nil {
		panic(err)
	}
	defer tx.Close()
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h, _ := ssf.ParseHeader(string(body))
		fmt.Println("received", r.Header.Get("Content-Type"), h.Alg, h.Typ, h.Kid == tx.CurrentKey().ID)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer endpoint.Close()

	claims := tx.NewSET(ssf.CAEPSessionRevoked, nil, map[string]any{"format": "opaque", "id": "u-1"})
	res, err := tx.Push(context.Background(), nil, endpoint.URL, tx.MustSign(claims), "")
	if err != nil {
		panic(err)
	}
	fmt.Println("status", res.Status)
	if _, err := tx.Rotate(); err != nil {
		panic(err)
	}
	res, _ = tx.Push(context.Background(), nil, endpoint.URL, tx.MustSign(claims), "")
	fmt.Println("status", res.Status)
	// Output:
	// received application/secevent+jwt ES256 secevent+jwt true
	// status 202
	// received application/secevent+jwt ES256 secevent+jwt true
	// status 202
}
