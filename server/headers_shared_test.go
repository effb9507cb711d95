package server

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// wantSecurityHeaders are the headers set on every response, errors and
// 404s included, written apart from the shared values they are checked
// against.
var wantSecurityHeaders = [][2]string{
	{"Content-Security-Policy", cspPage},
	{"X-Content-Type-Options", "nosniff"},
	{"Referrer-Policy", "no-referrer"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"Cross-Origin-Resource-Policy", "same-origin"},
	{"X-Frame-Options", "DENY"},
	{"Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"},
}

// TestSharedHeaderValuesStayPut: the security and JSON headers are
// assigned from slices every response shares; a handler that adds to or
// replaces one in its response changes no other response's.
func TestSharedHeaderValuesStayPut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := e.srv.base(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("meddle") != "" {
			setJSONHeaders(w.Header())
			w.Header().Add("X-Frame-Options", "SAMEORIGIN")
			w.Header().Add("Content-Type", "text/plain")
			w.Header().Set("Referrer-Policy", "unsafe-url")
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	serve := func(path string) http.Header {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w.Result().Header
	}
	serve("/?meddle=1")
	got := serve("/")
	if len(securityHeaderValues) != len(wantSecurityHeaders) {
		t.Errorf("%d shared security headers, want %d", len(securityHeaderValues), len(wantSecurityHeaders))
	}
	for _, kv := range wantSecurityHeaders {
		if v := got.Values(kv[0]); !slices.Equal(v, []string{kv[1]}) {
			t.Errorf("after another response changed its headers, %s = %q, want %q", kv[0], v, kv[1])
		}
	}
	for _, hv := range append(slices.Clone(securityHeaderValues), jsonHeaderValues...) {
		if c := http.CanonicalHeaderKey(hv.name); c != hv.name {
			t.Errorf("shared header name %q is not canonical (%q): a response's Get would not find it", hv.name, c)
		}
		if len(hv.values) != 1 || cap(hv.values) != 1 {
			t.Errorf("the shared values of %s have length %d, capacity %d; want 1 and 1 (an Add would write into the shared array)", hv.name, len(hv.values), cap(hv.values))
		}
	}
	j := httptest.NewRecorder()
	setJSONHeaders(j.Header())
	j.Header().Add("Cache-Control", "private")
	if v := jsonHeaderValues[2].values; !slices.Equal(v, []string{"no-store"}) {
		t.Errorf("after a response added to Cache-Control, the shared value is %q", v)
	}
}
