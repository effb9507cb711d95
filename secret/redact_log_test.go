package secret

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const canary = "CANARY-7f3a9b2c-secret"

type stringer struct{}

func (stringer) String() string { return "stringer with " + canary }

type holder struct {
	Name  string
	Token string
}

type valuer struct{}

func (valuer) LogValue() slog.Value { return slog.StringValue("valuer " + canary) }

func TestLogHandler(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		var inner slog.Handler = slog.NewTextHandler(&buf, nil)
		if format == "json" {
			inner = slog.NewJSONHandler(&buf, nil)
		}
		r := NewRedactor()
		r.Add("CANARY", canary)
		log := slog.New(NewLogHandler(inner, r))

		log = log.With("with", "attr "+canary).WithGroup("g").With("inner", canary)
		log.Info("message "+canary,
			"plain", canary,
			"err", fmt.Errorf("wrapped: %w", errors.New("cause "+canary)),
			"stringer", stringer{},
			"struct", holder{"n", canary},
			"ptr", &holder{"n", canary},
			"bytes", []byte(canary),
			"valuer", valuer{},
			slog.Group("nested", "deep", canary, slog.Group("deeper", "x", canary)),
			canary, "as key",
			"count", 42,
			"detected", "password=hunter3",
		)
		out := buf.String()
		if strings.Contains(out, canary) {
			t.Errorf("%s log leaks the canary:\n%s", format, out)
		}
		if strings.Contains(out, "hunter3") {
			t.Errorf("%s log leaks a detected password:\n%s", format, out)
		}
		for _, want := range []string{"[REDACTED:CANARY]", "42", "[REDACTED:password]"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s log lacks %q:\n%s", format, want, out)
			}
		}
		if n := strings.Count(out, "[REDACTED:CANARY]"); n < 12 {
			t.Errorf("%s log has %d masks, want at least 12:\n%s", format, n, out)
		}
	}
}

func TestLogHandlerEnabled(t *testing.T) {
	inner := slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn})
	h := NewLogHandler(inner, NewRedactor())
	if h.Enabled(t.Context(), slog.LevelInfo) || !h.Enabled(t.Context(), slog.LevelError) {
		t.Error("Enabled does not follow the inner handler")
	}
}
