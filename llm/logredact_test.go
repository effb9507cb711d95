package llm

import (
	"context"
	"strings"
	"testing"
)

// TestLogRedact: a request's log lines pass through the functions its
// context was given, the innermost (a sub-task's) first, then the outer
// (its parent's); a context without one logs the line as it is.
func TestLogRedact(t *testing.T) {
	if got := RedactLog(context.Background(), "a line"); got != "a line" {
		t.Errorf("no hook: %q", got)
	}
	outer := WithLogRedact(context.Background(), func(s string) string { return strings.ReplaceAll(s, "parent", "[P]") })
	inner := WithLogRedact(outer, func(s string) string { return strings.ReplaceAll(s, "child", "[C] parent") })
	if got := RedactLog(inner, "child and parent"); got != "[C] [P] and [P]" {
		t.Errorf("nested: %q", got)
	}
	if got := RedactLog(outer, "child and parent"); got != "child and [P]" {
		t.Errorf("outer: %q", got)
	}
}
