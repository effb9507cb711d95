package llmtest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/llm/openai"
)

// A stock net/http client gets well-formed replies from the lean server,
// buffered (Content-Length) and streamed (chunked), over one kept-alive
// connection.
func TestLeanStockClient(t *testing.T) {
	t.Parallel()
	srv := llmtest.NewLeanServer(llmtest.Script(
		llmtest.Turn{Content: "one two", Quirks: llmtest.Buffered},
		llmtest.Turn{Content: "three four"},
		llmtest.Turn{Status: 429, RetryAfter: "7"},
	))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{}}
	var reused []bool
	post := func() *http.Response {
		t.Helper()
		ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) }})
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for i, chunked := range []bool{false, true} {
		resp := post()
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("reply %d = %d %v %v", i, resp.StatusCode, resp.Header, err)
		}
		if got := len(resp.TransferEncoding) == 1 && resp.TransferEncoding[0] == "chunked"; got != chunked || (!chunked && resp.ContentLength != int64(len(body))) {
			t.Errorf("reply %d: chunked %v (%v), length %d for %d bytes; want chunked %v", i, got, resp.TransferEncoding, resp.ContentLength, len(body), chunked)
		}
		if !strings.HasSuffix(string(body), "data: [DONE]\n\n") || !strings.Contains(string(body), `"content":"`+[]string{"one", "three"}[i]) {
			t.Errorf("reply %d body:\n%s", i, body)
		}
	}
	resp := post()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || !json.Valid(body) {
		t.Errorf("error reply = %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if len(reused) != 3 || reused[0] || !reused[1] || !reused[2] {
		t.Errorf("connections reused: %v, want one connection kept alive", reused)
	}
	if srv.Count() != 3 || len(srv.Requests()) != 3 || srv.Requests()[2].Messages[0].Content != "hi" {
		t.Errorf("recorded %d of %d requests", len(srv.Requests()), srv.Count())
	}
}

// rawExchange sends raw bytes on a new connection, ends its side, and
// returns everything the server answers until it closes.
func rawExchange(t *testing.T, url, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite() // the client sends no more
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("%.60q: the server did not close the connection: %v (read %.80q)", raw, err, b)
	}
	return string(b)
}

// Malformed or refused requests get one error status and the connection
// closed; the server goes on serving.
func TestLeanMalformed(t *testing.T) {
	t.Parallel()
	srv := llmtest.NewLeanServer(func(*llmtest.Request) llmtest.Turn { return llmtest.Turn{Content: "ok", Quirks: llmtest.Buffered} })
	defer srv.Close()
	const p = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
	for _, c := range []struct{ raw, status string }{
		{"GARBAGE\r\n\r\n", "400"},
		{"\r\n\r\n", "400"},
		{"POST  /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
		{"POST /v1/chat/completions HTTP/2.0\r\nHost: x\r\n\r\n", "505"},
		{"POST /v1/chat/completions HTTP/1.1\r\n\r\n", "400"}, // no Host
		{p + "Host: y\r\n\r\n", "400"},
		{p + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", "400"},
		{p + "Content-Length: -1\r\n\r\n", "400"},
		{p + "Content-Length: 1, 2\r\n\r\n", "400"},
		{p + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", "400"},
		{p + "Content-Length: 99999999999999999999\r\n\r\n", "400"},
		{p + "Content-Length: 1073741824\r\n\r\n", "413"},
		{p + "No colon here\r\n\r\n", "400"},
		{p + "X-A: 1\r\n folded\r\n\r\n", "400"},
		{p + "X-A: a\x00b\r\n\r\n", "400"},
		{p + "X-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n", "431"},
		{p + strings.Repeat("X-A: 1\r\n", 101) + "\r\n", "431"},
		{"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{}", ""}, // truncated body: closed, no answer
		{"POST /v1/chat/comp", "400"},                                                         // truncated head
		{"GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "405"},
		{"POST /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "404"},
		{p + "Content-Length: 3\r\nConnection: close\r\n\r\n{x}", "400"}, // not JSON: the handler's parser answers
	} {
		got := rawExchange(t, srv.URL, c.raw)
		if c.status == "" {
			if got != "" {
				t.Errorf("%.60q: answered %.80q, want the connection closed", c.raw, got)
			}
			continue
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
		if err != nil {
			t.Errorf("%.60q: unreadable answer %q: %v", c.raw, got, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		if !strings.HasPrefix(got, "HTTP/1.1 "+c.status+" ") || int64(len(body)) != resp.ContentLength {
			t.Errorf("%.60q: answered %.200q, want %s with a Content-Length", c.raw, got, c.status)
		}
	}
	// A HEAD request gets its head only.
	if got := rawExchange(t, srv.URL, "HEAD /v1/messages HTTP/1.1\r\nHost: x\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 405 ") || !strings.HasSuffix(got, "\r\n\r\n") {
		t.Errorf("HEAD answered %q, want 405 without a body", got)
	}
	// Still serving, and two pipelined requests are answered in order.
	body := `{"model":"m","messages":[]}`
	req := p + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	got := rawExchange(t, srv.URL, req+strings.Replace(req, "Host: x\r\n", "Host: x\r\nConnection: close\r\n", 1))
	r := bufio.NewReader(strings.NewReader(got))
	for i := range 2 {
		resp, err := http.ReadResponse(r, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("pipelined reply %d: %v %v in %q", i, resp, err, got)
		}
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), `"content":"ok"`) {
			t.Errorf("pipelined reply %d: %s", i, b)
		}
	}
}

// The real adapter through the lean server, with a turn that hangs: the
// client's cancellation ends it and the server goes on.
func TestLeanAdapterAndHang(t *testing.T) {
	t.Parallel()
	srv := llmtest.NewLeanServer(llmtest.Script(
		llmtest.Turn{Content: "partial", Hang: true},
		llmtest.Turn{Content: "after", Delay: time.Millisecond},
	))
	defer srv.Close()
	m := openai.New(openai.Config{BaseURL: srv.URL + "/v1", Model: "m"})
	req := llm.Request{Messages: []llm.Message{{Role: llm.User, Content: "go"}}}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := m.Stream(ctx, req, nil); err == nil {
		t.Fatal("a hanging turn returned without error")
	}
	resp, err := m.Stream(t.Context(), req, nil)
	if err != nil || resp.Message.Content != "after" {
		t.Errorf("next turn = %+v, %v", resp, err)
	}
}

// Requests of every size, pipelined in one write or dribbled a few bytes
// at a time, are each read whole and answered in order: the lean server
// reads into a pooled buffer once there is input and keeps what follows a
// request for the next one.
func TestLeanPipelinedSizes(t *testing.T) {
	t.Parallel()
	srv := llmtest.NewLeanServer(func(r *llmtest.Request) llmtest.Turn {
		return llmtest.Turn{Content: "len" + strconv.Itoa(len(r.Body)), Quirks: llmtest.Buffered}
	})
	defer srv.Close()
	srv.SetParsing(false)
	sizes := []int{10, 7000, 32 << 10, 40 << 10, 3, 200 << 10, 16}
	var raw strings.Builder
	for i, n := range sizes {
		conn := ""
		if i == len(sizes)-1 {
			conn = "Connection: close\r\n"
		}
		raw.WriteString("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + conn + "Content-Length: " + strconv.Itoa(n) + "\r\n\r\n" + strings.Repeat("b", n))
	}
	check := func(got string) {
		t.Helper()
		at := 0
		for _, n := range sizes {
			i := strings.Index(got[at:], `"content":"len`+strconv.Itoa(n)+`"`)
			if i < 0 {
				t.Fatalf("no answer for the %d-byte request after byte %d of %d", n, at, len(got))
			}
			at += i + 1
		}
		if c := strings.Count(got, "HTTP/1.1 200 OK"); c != len(sizes) {
			t.Errorf("%d answers, want %d", c, len(sizes))
		}
	}
	check(rawExchange(t, srv.URL, raw.String()))

	// Dribbled: the same bytes in pieces of 7, one write each.
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	go func() {
		s := raw.String()
		for len(s) > 0 {
			k := min(7, len(s))
			if _, err := io.WriteString(c, s[:k]); err != nil {
				return
			}
			s = s[k:]
			if len(s)%4096 < 7 {
				time.Sleep(time.Millisecond) // let the server read what came so far
			}
		}
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	check(string(got))
}
