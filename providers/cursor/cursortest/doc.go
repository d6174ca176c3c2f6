// Package cursortest checks that an implementation of cursor.Store keeps
// the contract documented on that interface. Every implementation in the
// SDK runs it; a host that writes its own Store (over Redis, a cloud
// key-value service...) should run it too:
//
//	func TestConformance(t *testing.T) {
//		cursortest.Run(t, func(t *testing.T) cursor.Store { return newMyStore(t) })
//	}
package cursortest
