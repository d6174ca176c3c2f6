// Package keylock provides a mutex per key: calls that share a key run one
// at a time, calls with different keys do not wait for each other. The
// providers use it to serialise the executions of one idempotency key, so
// that two concurrent calls cannot both find the key unused and both act.
package keylock
