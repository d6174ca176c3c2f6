package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/iamplaybook/iamplaybook/approve/web"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

// The run store also remembers which approval links were used: a host
// passes it as web.Config{Used: s.UsedTokens()}, and a link used before a
// restart is still refused as used after it.
func ExampleStore_UsedTokens() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "iamplaybook-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "runs.db")
	until := time.Now().Add(24 * time.Hour) // the link's expiry

	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	var used web.UsedTokens = s.UsedTokens()
	first, err := used.Claim(ctx, "link-key", until)
	fmt.Println("first use:", first, err)
	_ = s.Close()

	again, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer again.Close()
	second, err := again.UsedTokens().Claim(ctx, "link-key", until)
	fmt.Println("after a restart:", second, err)
	// Output:
	// first use: true <nil>
	// after a restart: false <nil>
}
