package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/iamplaybook/iamplaybook/providers/cursor"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

// The run store is also where pollers keep their cursors: a host passes
// it wherever a provider takes a cursor.Store, and a restarted process
// resumes from what the last one stored.
func ExampleStore_Put() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "iamplaybook-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "runs.db")

	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	var state cursor.Store = s // e.g. okta.PollerConfig{Store: s}
	if err := state.Put(ctx, "okta/system-log/next", "https://example.okta.com/api/v1/logs?after=abc"); err != nil {
		log.Fatal(err)
	}
	_ = s.Close()

	again, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer again.Close()
	v, ok, err := again.Get(ctx, "okta/system-log/next")
	fmt.Println(v, ok, err)
	// Output: https://example.okta.com/api/v1/logs?after=abc true <nil>
}
