package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// The Content-Security-Policy of pages (the browser UI) and of JSON
// responses.
const (
	cspPage = "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
	cspJSON = "default-src 'none'; frame-ancestors 'none'"
	hsts    = "max-age=63072000; includeSubDomains"
)

// securityHeaderValues are set on every response, errors and 404s
// included, as a response's header map holds them (canonical names, one
// value each), shared by every response: base assigns them without
// building a slice per header and request. A slice of one value at full
// capacity: a handler that Adds to one makes a new array, never changes
// the shared one. A literal, laid out by the compiler rather than built
// by the package's init (TestSharedHeaderValuesStayPut checks the names
// are canonical).
var securityHeaderValues = []headerValues{
	{"Content-Security-Policy", []string{cspPage}},
	{"X-Content-Type-Options", []string{"nosniff"}},
	{"Referrer-Policy", []string{"no-referrer"}},
	{"Cross-Origin-Opener-Policy", []string{"same-origin"}},
	{"Cross-Origin-Resource-Policy", []string{"same-origin"}},
	{"X-Frame-Options", []string{"DENY"}},
	{"Permissions-Policy", []string{"camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"}},
}

type headerValues struct {
	name   string
	values []string
}

type requestIDKey struct{}

// RequestID returns the id of the request ctx belongs to ("" outside one).
// It is sent back as X-Request-Id and named in error bodies and logs.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func newRequestID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// base is the middleware every request goes through, matched or not: it
// gives the request an id, sets the security headers, recovers a panic
// into a JSON 500 and logs the request.
func (s *Server) base(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		id := newRequestID()
		c := s.resolveClient(r)
		r = r.WithContext(withClient(context.WithValue(r.Context(), requestIDKey{}, id), c))
		h := w.Header()
		for _, hv := range securityHeaderValues {
			h[hv.name] = hv.values
		}
		if c.https { // served over TLS, by us or by a trusted proxy
			h.Set("Strict-Transport-Security", hsts)
		}
		h.Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.logger(r).Error("panic serving a request", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				if !sw.wrote {
					s.writeError(sw, r, bulwark.E(bulwark.Internal, "server", "", errors.New("panic")), 0)
				}
			}
			if s.log.Enabled(r.Context(), slog.LevelDebug) { // else not worth a logger and its arguments per request
				s.logger(r).Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.code, "duration", s.now().Sub(start).Round(time.Microsecond))
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter remembers whether and with which status a response began.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.code, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (SSE routes
// extend their write deadline and flush through it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
