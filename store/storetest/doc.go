// Package storetest is the conformance suite for playbook.Store
// implementations. Every store, in memory or durable, runs it from a test:
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) playbook.Store {
//			s, err := mystore.Open(t.Context(), filepath.Join(t.TempDir(), "runs.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Each case is a parallel subtest on its own fresh store. Its name is short;
// the sentence that states the rule it checks is logged with t.Log and
// repeated in its failure messages.
//
// Cases for the optional interfaces (playbook.ApprovalLister,
// playbook.VerdictInbox, playbook.Locker) run when the store implements
// them and are skipped, saying which interface is missing, when it does
// not.
//
// The suite checks the playbook.Store contract plus what the runner relies
// on beyond its letter: times round-trip as the same instant to the
// nanosecond (their location may change, for example to UTC), Event.Raw and
// StepRecord.Result round-trip byte for byte, ListRuns breaks CreatedAt ties
// by creation order, and a claim holds while now is before its expiry.
package storetest
