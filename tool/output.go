package tool

import (
	"context"
	"strconv"
	"unicode/utf8"
)

// OutputFunc receives the output of a command a tool runs, as it comes:
// stderr says which stream, p is valid only during the call. It is called
// from other goroutines than the tool's and must not block.
type OutputFunc func(stderr bool, p []byte)

type outputKey struct{}

// WithOutput returns a context whose commands (Env.Exec) hand their output
// to f as it comes, besides returning all of it in their ExecResult. The
// agent loop sets it for each call, as net/http/httptrace sets a trace: a
// per-call hook that tools pass on by passing their context.
func WithOutput(ctx context.Context, f OutputFunc) context.Context {
	return context.WithValue(ctx, outputKey{}, f)
}

// OutputOf returns the OutputFunc of ctx (see WithOutput), or nil.
func OutputOf(ctx context.Context) OutputFunc {
	f, _ := ctx.Value(outputKey{}).(OutputFunc)
	return f
}

// MaxOutput caps the text a tool that relays another program's answer
// returns (an MCP server's result), as the sandbox caps a command's output
// (sandbox.DefaultOutputLimit); the agent then fits what is left to the
// task's output limit.
const MaxOutput = 1 << 20

// CutOutput returns s cut to at most max bytes, not splitting a UTF-8
// sequence, with a line that says how much was left out.
func CutOutput(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "\n[bulwark: output cut at " + strconv.Itoa(n) + " of " + strconv.Itoa(len(s)) + " bytes]"
}
