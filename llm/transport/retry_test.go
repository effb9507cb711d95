package transport

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

var retryAfterCases = []struct {
	header, ms string
	want       time.Duration
}{
	{"", "", 0},
	{"1", "", time.Second},
	{"0.5", "", 500 * time.Millisecond},
	{"120", "", 30 * time.Second}, // capped
	{"-3", "", 0},
	{"soon", "", 0},
	{now.Add(10 * time.Second).Format(http.TimeFormat), "", 10 * time.Second},
	{now.Add(-time.Hour).Format(http.TimeFormat), "", 0},
	{"7", "250", 250 * time.Millisecond},
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range retryAfterCases {
		h := http.Header{}
		if tc.header != "" {
			h.Set("Retry-After", tc.header)
		}
		if tc.ms != "" {
			h.Set("Retry-After-Ms", tc.ms)
		}
		if got := retryAfter(h, now, 30*time.Second); got != tc.want {
			t.Errorf("retryAfter(%q, ms %q) = %v, want %v", tc.header, tc.ms, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	r := Retry{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}.withDefaults()
	for n := 1; n <= 40; n++ {
		d := r.backoff(n)
		hi := min(100*time.Millisecond<<min(n-1, 20), time.Second)
		if d < hi/2 || d > hi {
			t.Errorf("backoff(%d) = %v, want in [%v, %v]", n, d, hi/2, hi)
		}
	}
}

var redactCases = []struct{ in, want string }{
	{"Incorrect API key provided: sk-proj-abc123def456.", "Incorrect API key provided: [REDACTED]."},
	{"key sk-ant-api03-xyzxyzxyz", "key [REDACTED]"},
	{"sk-abc*********************wxyz", "[REDACTED]"},
	{"Authorization: Bearer abcdef123456", "Authorization: [REDACTED]"},
	{"https://h/v1?key=AIzaSyABC&x=1", "https://h/v1?[REDACTED]&x=1"},
	{"bwk_0123456789abcdef", "[REDACTED]"},
	{"a plain message", "a plain message"},
	{"task-runner", "task-runner"},
}

func TestRedactKeys(t *testing.T) {
	for _, tc := range redactCases {
		if got := RedactKeys(tc.in); got != tc.want {
			t.Errorf("RedactKeys(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

var providerMessageCases = []struct{ body, want string }{
	{`{"error":{"message":"Invalid schema","type":"invalid_request_error"}}`, "Invalid schema"},
	{`{"type":"error","error":{"type":"not_found_error","message":"model: x"}}`, "model: x"},
	{`{"error":"model \"x\" not found, try pulling it first"}`, `model "x" not found, try pulling it first`},
	{`{"object":"error","message":"The model x does not exist.","type":"NotFoundError","code":404}`, "The model x does not exist."},
	{`{"detail":"Not Found"}`, "Not Found"},
	{"upstream\n  timed out", "upstream timed out"},
	{"<html><body>502 Bad Gateway</body></html>", ""},
	{strings.Repeat("x", 300), strings.Repeat("x", 200) + "..."},
}

func TestProviderMessage(t *testing.T) {
	for _, tc := range providerMessageCases {
		if got := ProviderMessage([]byte(tc.body)); got != tc.want {
			t.Errorf("ProviderMessage(%q) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

var statusCases = []struct {
	status int
	body   string
	kind   bulwark.Kind
	msg    string
}{
	{401, "", bulwark.Unauthenticated, "openai: the API key was rejected (401); check OPENAI_API_KEY"},
	{403, `{"error":{"message":"Project does not have access"}}`, bulwark.Unauthenticated, "openai: the API key was refused (403); check OPENAI_API_KEY: Project does not have access"},
	{404, "", bulwark.NotFound, `openai: model "gpt-x" not found (404); check the model name and the base URL`},
	{400, `{"error":{"message":"invalid model ID"}}`, bulwark.NotFound, `openai: model "gpt-x" not found (400)`},
	{400, `{"error":{"message":"messages too long"}}`, bulwark.Invalid, "openai: the request was refused (400): messages too long"},
	{400, ``, bulwark.Invalid, "openai: the request was refused (400): no reason given"},
	{429, ``, bulwark.RateLimited, "openai: rate limited (429) after 1 attempt; try again later"},
	{429, `{"error":{"code":"insufficient_quota","message":"You exceeded your current quota"}}`, bulwark.QuotaExceeded, "openai: the account's quota is used up (429)"},
	{503, ``, bulwark.Unavailable, "openai: the server failed (503) after 1 attempt"},
	{418, ``, bulwark.Unavailable, "openai: unexpected answer (418)"},
}

func TestStatusError(t *testing.T) {
	h := &HTTP{Provider: "openai", Model: "gpt-x", KeyEnv: "OPENAI_API_KEY"}
	for _, tc := range statusCases {
		err := h.statusError(tc.status, []byte(tc.body), 1)
		if err.Kind != tc.kind || !strings.HasPrefix(err.Msg, tc.msg) {
			t.Errorf("statusError(%d, %q) = %v %q, want %v %q", tc.status, tc.body, err.Kind, err.Msg, tc.kind, tc.msg)
		}
	}
}

func TestDoCanceledWhileBackingOff(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(429)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	h := &HTTP{Provider: "openai", Retry: Retry{MaxDelay: time.Hour, Sleep: func(ctx context.Context, d time.Duration) error {
		cancel() // the caller gives up during the wait
		return sleep(ctx, d)
	}}}
	_, err := h.Do(ctx, func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, "POST", srv.URL, nil)
	})
	if bulwark.ErrorKind(err) != bulwark.Canceled || n.Load() != 1 {
		t.Errorf("Do = %v after %d requests, want Canceled after 1", err, n.Load())
	}
}

func TestDoBadRequestIsNotRetried(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(400)
	}))
	defer srv.Close()
	h := &HTTP{Provider: "openai"}
	_, err := h.Do(t.Context(), func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, "POST", srv.URL, nil)
	})
	if bulwark.ErrorKind(err) != bulwark.Invalid || n.Load() != 1 {
		t.Errorf("Do = %v after %d requests, want Invalid after 1", err, n.Load())
	}
}
