package transport

import (
	"context"
	"io"
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
	{"your prompt holds BWK-CANARY-0123456789abcdef01234567, refused", "your prompt holds [REDACTED], refused"},
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

// clients are the two transports HTTP.Do runs over: Lean for plain-HTTP
// servers (the default) and net/http's own. Its tests run against both.
func clients() map[string]*http.Client {
	return map[string]*http.Client{
		"lean": {Transport: NewLean(StdTransport())},
		"std":  {Transport: StdTransport()},
	}
}

func TestDoCanceledWhileBackingOff(t *testing.T) {
	for name, client := range clients() {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(429)
		}))
		defer srv.Close()
		ctx, cancel := context.WithCancel(t.Context())
		h := &HTTP{Provider: "openai", Client: client, Retry: Retry{MaxDelay: time.Hour, Sleep: func(ctx context.Context, d time.Duration) error {
			cancel() // the caller gives up during the wait
			return sleep(ctx, d)
		}}}
		_, err := h.Do(ctx, func(ctx context.Context) (*http.Request, error) {
			return http.NewRequestWithContext(ctx, "POST", srv.URL, nil)
		})
		if bulwark.ErrorKind(err) != bulwark.Canceled || n.Load() != 1 {
			t.Errorf("%s: Do = %v after %d requests, want Canceled after 1", name, err, n.Load())
		}
	}
}

func TestDoBadRequestIsNotRetried(t *testing.T) {
	for name, client := range clients() {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.WriteHeader(400)
		}))
		defer srv.Close()
		h := &HTTP{Provider: "openai", Client: client}
		_, err := h.Do(t.Context(), func(ctx context.Context) (*http.Request, error) {
			return http.NewRequestWithContext(ctx, "POST", srv.URL, nil)
		})
		if bulwark.ErrorKind(err) != bulwark.Invalid || n.Load() != 1 {
			t.Errorf("%s: Do = %v after %d requests, want Invalid after 1", name, err, n.Load())
		}
	}
}

// Retries, the header timeout and the idle timeout of a streamed body
// behave the same over both transports.
func TestDoTimeoutsAndRetries(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server watches the connection and ends r's context when it closes
		switch r.URL.Path {
		case "/flaky":
			if n.Add(1)%2 == 1 {
				w.WriteHeader(503)
				return
			}
			io.WriteString(w, "data: ok\n\n")
		case "/silent":
			<-r.Context().Done()
		case "/stall":
			io.WriteString(w, "data: 1\n\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	noWait := func(context.Context, time.Duration) error { return nil }
	for name, client := range clients() {
		get := func(path string) func(ctx context.Context) (*http.Request, error) {
			return func(ctx context.Context) (*http.Request, error) {
				return http.NewRequestWithContext(ctx, "POST", srv.URL+path, strings.NewReader("{}"))
			}
		}
		h := &HTTP{Provider: "openai", Client: client, Retry: Retry{Sleep: noWait, HeaderTimeout: 50 * time.Millisecond, IdleTimeout: 50 * time.Millisecond}}
		resp, err := h.Do(t.Context(), get("/flaky"))
		if err != nil {
			t.Errorf("%s: Do(flaky) = %v, want the second attempt's answer", name, err)
		} else {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "data: ok\n\n" {
				t.Errorf("%s: Do(flaky) body %q", name, b)
			}
		}

		h.Retry.MaxAttempts = 1
		_, err = h.Do(t.Context(), get("/silent"))
		if bulwark.ErrorKind(err) != bulwark.Unavailable || !strings.Contains(bulwark.ErrorMessage(err), "no answer from the openai provider within") {
			t.Errorf("%s: Do(silent) = %v, want the header timeout", name, err)
		}

		resp, err = h.Do(t.Context(), get("/stall"))
		if err != nil {
			t.Fatalf("%s: Do(stall) = %v", name, err)
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err = h.StreamError(t.Context(), err); bulwark.ErrorKind(err) != bulwark.Unavailable || !strings.Contains(bulwark.ErrorMessage(err), "stalled") {
			t.Errorf("%s: reading a stalled body: %v, want the idle timeout", name, err)
		}
	}
}

// roundTripFunc is an http.RoundTripper of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestDoOneTimer: an attempt has one timer, which bounds the wait for the
// head and then each read of the body (two time.AfterFunc a turn before:
// a timer and a function each). Counted in allocations, with a transport
// that answers at once, and a body whose reads wait for longer than the
// head timeout and less than the idle one must read through.
func TestDoOneTimer(t *testing.T) {
	rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("data: ok\n\n")), Request: req}, nil
	})
	h := &HTTP{Provider: "openai", Client: &http.Client{Transport: rt}}
	newReq := func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, "POST", "http://model.test/v1", http.NoBody)
	}
	do := func() {
		resp, err := h.Do(t.Context(), newReq)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	do()
	// What the 2xx attempt allocates besides the timer: the client's
	// request copy and the rest of net/http's Client.Do, the attempt's
	// context, the body's wrapper: 16 with one timer and its function
	// (go1.26), 18 with two.
	if n := testing.AllocsPerRun(50, do); n > 16 {
		t.Errorf("Do and a body read allocate %v times, want at most 16 (one timer)", n)
	}

	slow := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		pr, pw := io.Pipe()
		go func() {
			time.Sleep(60 * time.Millisecond) // past the head timeout
			io.WriteString(pw, "data: ok\n\n")
			pw.Close()
		}()
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: pr, Request: req}, nil
	})
	h = &HTTP{Provider: "openai", Client: &http.Client{Transport: slow}, Retry: Retry{HeaderTimeout: 20 * time.Millisecond, IdleTimeout: time.Hour}}
	resp, err := h.Do(t.Context(), newReq)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "data: ok\n\n" {
		t.Errorf("a body read within the idle timeout and past the head one: %q, %v", b, err)
	}
}
