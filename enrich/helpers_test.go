package enrich_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The helpers below keep the tests on the standard library alone.

// equal reports a mismatch between got and want, compared deeply.
func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %#v\n want %#v", what, got, want)
	}
}

// noError stops the test when err is not nil.
func noError(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// errorIs reports err not wrapping target.
func errorIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("error %v does not wrap %v", err, target)
	}
}

// errorAs returns the first E in err's chain and stops the test when there
// is none.
func errorAs[E error](t *testing.T, err error) E {
	t.Helper()
	e, ok := errors.AsType[E](err)
	if !ok {
		t.Fatalf("error %v: no %T in its chain", err, e)
	}
	return e
}

// contains reports s not containing sub.
func contains(t *testing.T, what, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%s = %q, want it to contain %q", what, s, sub)
	}
}

// errContains stops the test when err is nil and reports a message that
// lacks sub.
func errContains(t *testing.T, err error, sub string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", sub)
	}
	contains(t, "error", err.Error(), sub)
}
