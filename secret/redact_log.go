package secret

import (
	"context"
	"fmt"
	"log/slog"
)

// NewLogHandler returns a slog.Handler that masks secrets with r before
// passing records to inner: the message, attribute keys and string values,
// errors (as their Error text), fmt.Stringer values (as their String text),
// values in groups at any depth, LogValuer results, and attributes added
// with WithAttrs. Any other value of kind Any is formatted with %+v and
// logged as the masked string, since inner might otherwise print fields the
// redactor never saw (a struct's secret field, a []byte). Numbers, booleans,
// times and durations pass unchanged.
func NewLogHandler(inner slog.Handler, r *Redactor) slog.Handler {
	return &logHandler{inner: inner, r: r}
}

type logHandler struct {
	inner slog.Handler
	r     *Redactor
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *logHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		masked[i] = h.attr(a)
	}
	return &logHandler{inner: h.inner.WithAttrs(masked), r: h.r}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{inner: h.inner.WithGroup(h.r.String(name)), r: h.r}
}

func (h *logHandler) attr(a slog.Attr) slog.Attr {
	return slog.Attr{Key: h.r.String(a.Key), Value: h.value(a.Value)}
}

func (h *logHandler) value(v slog.Value) slog.Value {
	v = v.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.StringValue(h.r.String(v.String()))
	case slog.KindGroup:
		g := v.Group()
		masked := make([]slog.Attr, len(g))
		for i, a := range g {
			masked[i] = h.attr(a)
		}
		return slog.GroupValue(masked...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.StringValue(h.r.String(x.Error()))
		case fmt.Stringer:
			return slog.StringValue(h.r.String(x.String()))
		case []byte:
			return slog.StringValue(h.r.String(string(x)))
		case nil:
			return v
		default:
			return slog.StringValue(h.r.String(fmt.Sprintf("%+v", x)))
		}
	}
	return v
}
