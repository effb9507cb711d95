package llm

import "context"

type logRedactKey struct{}

// WithLogRedact returns ctx whose model requests pass what they log (the
// transport's retry warnings, which quote the provider's errors) through
// redact, after any function ctx had already: the caller knows what must
// not reach the log that the adapter does not. The agent hands it the
// task's canary check, which finds the token in any encoding, where the
// transport redacts only a plain token (transport.RedactKeys). It is a
// per-request hook, as tool.WithOutput is a per-call one.
func WithLogRedact(ctx context.Context, redact func(string) string) context.Context {
	if outer := logRedactOf(ctx); outer != nil {
		inner := redact
		redact = func(s string) string { return outer(inner(s)) }
	}
	return context.WithValue(ctx, logRedactKey{}, redact)
}

// RedactLog returns s as a model request of ctx may log it: through the
// functions WithLogRedact gave ctx, or as it is.
func RedactLog(ctx context.Context, s string) string {
	if f := logRedactOf(ctx); f != nil {
		return f(s)
	}
	return s
}

func logRedactOf(ctx context.Context) func(string) string {
	f, _ := ctx.Value(logRedactKey{}).(func(string) string)
	return f
}
