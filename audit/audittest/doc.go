// Package audittest is the conformance suite for audit.Sink implementations.
// Run it on every sink, in-memory or durable:
//
//	func TestMySink(t *testing.T) {
//		audittest.TestSink(t, func(t *testing.T) (audit.Sink, func() []audit.Record) {
//			s := mysink.New(...)
//			t.Cleanup(func() { s.Close() })
//			return s, func() []audit.Record { return readBack(t, s) }
//		})
//	}
//
// Each case states the rule it checks in its name and logs it.
package audittest
