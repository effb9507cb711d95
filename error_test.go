package bulwark_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

var kindTests = []struct {
	err  error
	want bulwark.Kind
}{
	{bulwark.Errorf(bulwark.NotFound, "op", "no such task"), bulwark.NotFound},
	{fmt.Errorf("wrapped: %w", bulwark.Errorf(bulwark.Invalid, "op", "bad")), bulwark.Invalid},
	{context.Canceled, bulwark.Canceled},
	{fmt.Errorf("x: %w", context.DeadlineExceeded), bulwark.Canceled},
	{errors.New("plain"), bulwark.Other},
}

func TestErrorKind(t *testing.T) {
	for _, tt := range kindTests {
		if got := bulwark.ErrorKind(tt.err); got != tt.want {
			t.Errorf("ErrorKind(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestErrorMessageHidesCause(t *testing.T) {
	cause := errors.New("dial tcp 10.0.0.5:5432: secret internals")
	err := fmt.Errorf("outer: %w", bulwark.E(bulwark.Unavailable, "store.Open", "the database is unavailable", cause))
	if got, want := bulwark.ErrorMessage(err), "the database is unavailable"; got != want {
		t.Errorf("ErrorMessage = %q, want %q", got, want)
	}
	if got := bulwark.ErrorMessage(cause); got != "internal error" {
		t.Errorf("ErrorMessage(plain error) = %q, want %q", got, "internal error")
	}
}
