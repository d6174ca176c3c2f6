package contain_test

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// The module's go.sum lacks the YAML dependency of testify's assert package,
// so these tests use this small checker with the same call shapes instead:
// assert.X reports and continues, require.X reports and stops the test.
var (
	assert  = checker{}
	require = checker{fatal: true}
)

type checker struct{ fatal bool }

func (c checker) fail(t testing.TB, msg string, msgAndArgs []any) bool {
	t.Helper()
	if len(msgAndArgs) > 0 {
		if f, ok := msgAndArgs[0].(string); ok {
			msg = fmt.Sprintf(f, msgAndArgs[1:]...) + ": " + msg
		}
	}
	if c.fatal {
		t.Fatal(msg)
	}
	t.Error(msg)
	return false
}

func (c checker) Equal(t testing.TB, want, got any, msgAndArgs ...any) bool {
	t.Helper()
	if reflect.DeepEqual(want, got) {
		return true
	}
	return c.fail(t, fmt.Sprintf("not equal:\nwant: %#v\ngot:  %#v", want, got), msgAndArgs)
}

func (c checker) NotEqual(t testing.TB, notWant, got any, msgAndArgs ...any) bool {
	t.Helper()
	if !reflect.DeepEqual(notWant, got) {
		return true
	}
	return c.fail(t, fmt.Sprintf("should differ from %#v", notWant), msgAndArgs)
}

func (c checker) Len(t testing.TB, v any, n int, msgAndArgs ...any) bool {
	t.Helper()
	if l := reflect.ValueOf(v).Len(); l != n {
		return c.fail(t, fmt.Sprintf("length %d, want %d: %#v", l, n, v), msgAndArgs)
	}
	return true
}

func (c checker) Empty(t testing.TB, v any, msgAndArgs ...any) bool {
	t.Helper()
	return c.Len(t, v, 0, msgAndArgs...)
}

func (c checker) Zero(t testing.TB, v any, msgAndArgs ...any) bool {
	t.Helper()
	if reflect.ValueOf(v).IsZero() {
		return true
	}
	return c.fail(t, fmt.Sprintf("not zero: %#v", v), msgAndArgs)
}

func (c checker) True(t testing.TB, ok bool, msgAndArgs ...any) bool {
	t.Helper()
	if ok {
		return true
	}
	return c.fail(t, "not true", msgAndArgs)
}

func (c checker) False(t testing.TB, ok bool, msgAndArgs ...any) bool {
	t.Helper()
	if !ok {
		return true
	}
	return c.fail(t, "not false", msgAndArgs)
}

func (c checker) NoError(t testing.TB, err error, msgAndArgs ...any) bool {
	t.Helper()
	if err == nil {
		return true
	}
	return c.fail(t, fmt.Sprintf("unexpected error: %v", err), msgAndArgs)
}

func (c checker) ErrorIs(t testing.TB, err, target error, msgAndArgs ...any) bool {
	t.Helper()
	if errors.Is(err, target) {
		return true
	}
	return c.fail(t, fmt.Sprintf("error %v is not %v", err, target), msgAndArgs)
}

func (c checker) NotErrorIs(t testing.TB, err, target error, msgAndArgs ...any) bool {
	t.Helper()
	if !errors.Is(err, target) {
		return true
	}
	return c.fail(t, fmt.Sprintf("error %v should not be %v", err, target), msgAndArgs)
}

func (c checker) ErrorAs(t testing.TB, err error, target any, msgAndArgs ...any) bool {
	t.Helper()
	if errors.As(err, target) {
		return true
	}
	return c.fail(t, fmt.Sprintf("error %v is not a %T", err, reflect.ValueOf(target).Elem().Interface()), msgAndArgs)
}

func (c checker) Contains(t testing.TB, s, sub string, msgAndArgs ...any) bool {
	t.Helper()
	if strings.Contains(s, sub) {
		return true
	}
	return c.fail(t, fmt.Sprintf("%q does not contain %q", s, sub), msgAndArgs)
}

func (c checker) GreaterOrEqual(t testing.TB, got, lo time.Duration, msgAndArgs ...any) bool {
	t.Helper()
	if got >= lo {
		return true
	}
	return c.fail(t, fmt.Sprintf("%s < %s", got, lo), msgAndArgs)
}

func (c checker) LessOrEqual(t testing.TB, got, hi time.Duration, msgAndArgs ...any) bool {
	t.Helper()
	if got <= hi {
		return true
	}
	return c.fail(t, fmt.Sprintf("%s > %s", got, hi), msgAndArgs)
}

// assertResult compares an action result with want, ignoring the retry
// notes Retry adds to Response (checked by TestRetryNotesAttempts).
func assertResult(t *testing.T, want, got playbook.ActionResult) {
	t.Helper()
	if got.Response != nil {
		r := maps.Clone(got.Response)
		delete(r, "attempts")
		delete(r, "retried_errors")
		if len(r) == 0 {
			r = nil
		}
		got.Response = r
	}
	assert.Equal(t, want, got)
}
