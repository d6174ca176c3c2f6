package audit_test

import (
	"reflect"
	"testing"
)

// The module's go.sum cannot build testify's assert package (its yaml
// dependency has no go.sum entry), so these small helpers stand in for it.

func equal(t *testing.T, want, got any, msg ...any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Errorf("%v: got %#v, want %#v", msg, got, want)
	}
}

func noError(t *testing.T, err error, msg ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%v: unexpected error: %v", msg, err)
	}
}
