package cursor_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/iamplaybook/iamplaybook/providers/cursor"
)

// A poller keeps its position under a key of its own; a restarted process
// that opens the same file resumes from it.
func ExampleOpenFile() {
	dir, _ := os.MkdirTemp("", "cursor-example-")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "pollers.json")
	ctx := context.Background()

	st, err := cursor.OpenFile(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := st.Put(ctx, "okta/example.okta.com/systemlog", "https://example.okta.com/api/v1/logs?after=abc"); err != nil {
		fmt.Println(err)
		return
	}

	// After a restart.
	again, _ := cursor.OpenFile(path)
	v, ok, _ := again.Get(ctx, "okta/example.okta.com/systemlog")
	fmt.Println(ok, v)
	_, ok, _ = again.Get(ctx, "entra/contoso/riskDetections")
	fmt.Println(ok)
	// Output:
	// true https://example.okta.com/api/v1/logs?after=abc
	// false
}

// Memory needs no setup; its values last as long as the process.
func ExampleMemory() {
	var st cursor.Memory
	ctx := context.Background()
	_ = st.Put(ctx, "cursor", "page-2")
	v, ok, _ := st.Get(ctx, "cursor")
	fmt.Println(v, ok)
	// Output: page-2 true
}
