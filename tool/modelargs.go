package tool

import (
	"context"
	"encoding/json"
)

type modelArgsKey struct{}

// WithModelArgs returns ctx carrying the arguments of the call being run as
// the model wrote them, before the values of secrets were put in place of
// their {{secret:NAME}} placeholders (the agent loop sets it): what the
// call's effects were judged on, and what may be shown or kept where the
// values must not be.
func WithModelArgs(ctx context.Context, args json.RawMessage) context.Context {
	return context.WithValue(ctx, modelArgsKey{}, args)
}

// ModelArgs returns the arguments WithModelArgs put in ctx, or nil.
func ModelArgs(ctx context.Context) json.RawMessage {
	a, _ := ctx.Value(modelArgsKey{}).(json.RawMessage)
	return a
}
