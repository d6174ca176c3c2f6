package store_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The module's go.sum cannot build testify's assert package (its yaml
// dependency has no go.sum entry), so these small helpers stand in for it.

func noErr(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

func wantErr(t *testing.T, err, is error, contains, what string) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatalf("%s: got no error, want one containing %q", what, contains)
	case is != nil && !errors.Is(err, is):
		t.Errorf("%s: error %q does not wrap %q", what, err, is)
	case !strings.Contains(err.Error(), contains):
		t.Errorf("%s: error %q does not contain %q", what, err, contains)
	}
}

func equal[T any](t *testing.T, got, want T, what string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %#v, want %#v", what, got, want)
	}
}
