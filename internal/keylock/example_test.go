package keylock_test

import (
	"fmt"
	"sync"

	"github.com/iamplaybook/iamplaybook/internal/keylock"
)

// Two executions under one idempotency key run one after the other, so
// the second sees what the first recorded.
func ExampleMap() {
	var locks keylock.Map
	done := map[string]bool{} // guarded by the key's lock: one key here
	var wg sync.WaitGroup
	applied := make(chan string, 2)
	for range 2 {
		wg.Go(func() {
			unlock := locks.Lock("run-1/disable")
			defer unlock()
			if done["run-1/disable"] {
				applied <- "already applied"
				return
			}
			done["run-1/disable"] = true
			applied <- "applied"
		})
	}
	wg.Wait()
	close(applied)
	n := map[string]int{}
	for a := range applied {
		n[a]++
	}
	fmt.Println(n["applied"], n["already applied"], locks.Len())
	// Output: 1 1 0
}
