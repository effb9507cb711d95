package llmtest_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/llm/openai"
)

// loopModes are the two ways the loop server waits: letting its P go in
// the wait, and holding it (given a second P for the rest).
var loopModes = []struct {
	name  string
	holdP bool
}{{"wait lets the P go", false}, {"wait holds the P", true}}

func newLoop(t *testing.T, holdP bool, h llmtest.Handler) *llmtest.Server {
	t.Helper()
	if holdP && runtime.GOMAXPROCS(0) < 2 {
		t.Skip("holding a P needs a second one for the test")
	}
	srv := llmtest.NewLoopServer(h, holdP)
	t.Cleanup(srv.Close)
	return srv
}

// A stock net/http client and the real adapter get well-formed replies
// from the loop server, whole with a Content-Length, over one kept-alive
// connection: a prepared turn, one made afresh, an error status; the
// handler sees the request's number and model and the raw body, and an
// API key is checked.
func TestLoopStockClientAndAdapter(t *testing.T) {
	t.Parallel()
	for _, m := range loopModes {
		prep := llmtest.Prepare(llmtest.Turn{Content: "one two", Quirks: llmtest.Buffered,
			ToolCalls: []llmtest.ToolCall{{Name: "write_file", Arguments: json.RawMessage(`{"path":"a"}`)}}})
		var mu sync.Mutex // the race detector sees no order through the raw system calls
		var seen []string
		srv := newLoop(t, m.holdP, func(r *llmtest.Request) llmtest.Turn {
			mu.Lock()
			seen = append(seen, strconv.Itoa(r.N)+" "+r.Model+" "+strconv.Itoa(len(r.Body)))
			mu.Unlock()
			switch r.N {
			case 1, 2:
				return prep
			case 3:
				return llmtest.Turn{Content: "three four", Delay: time.Millisecond}
			}
			return llmtest.Turn{Status: 429, RetryAfter: "7"}
		})
		client := &http.Client{Transport: &http.Transport{}}
		var reused []bool
		const body = `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
		post := func() (*http.Response, string) {
			t.Helper()
			ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) }})
			req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			return resp, string(b)
		}
		for i, want := range []string{"one", "one", "three"} {
			resp, b := post()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.ContentLength != int64(len(b)) || len(resp.TransferEncoding) != 0 {
				t.Fatalf("%s: reply %d = %d %v, %d bytes", m.name, i, resp.StatusCode, resp.Header, len(b))
			}
			if !strings.HasSuffix(b, "data: [DONE]\n\n") || !strings.Contains(b, `"content":"`+want) || !strings.Contains(b, `"model":"m"`) || !strings.Contains(b, `"id":"chatcmpl-`+strconv.Itoa(i+1)+`"`) {
				t.Errorf("%s: reply %d body:\n%s", m.name, i, b)
			}
		}
		resp, b := post()
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || !json.Valid([]byte(b)) {
			t.Errorf("%s: error reply = %d %v %s", m.name, resp.StatusCode, resp.Header, b)
		}
		if len(reused) != 4 || reused[0] || !reused[1] || !reused[2] || !reused[3] {
			t.Errorf("%s: connections reused: %v, want one connection kept alive", m.name, reused)
		}
		mu.Lock()
		if want := "1 m 71,2 m 71,3 m 71,4 m 71"; strings.Join(seen, ",") != want || srv.Count() != 4 {
			t.Errorf("%s: the handler saw %q, count %d; want %q", m.name, seen, srv.Count(), want)
		}
		mu.Unlock()

		// A request without the key the server wants: 401, not retried.
		a := openai.New(openai.Config{BaseURL: srv.URL + "/v1", Model: "m"})
		srv.RequireAPIKey("k")
		if _, err := a.Stream(t.Context(), llm.Request{Messages: []llm.Message{{Role: llm.User, Content: "go"}}}, nil); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("%s: without the key: %v, want 401", m.name, err)
		}
	}
}

// The real adapter reads the loop server's prepared turn: content and a
// tool call.
func TestLoopAdapterReadsPrepared(t *testing.T) {
	t.Parallel()
	for _, m := range loopModes {
		turn := llmtest.Prepare(llmtest.Turn{Content: "Writing the next file.", Quirks: llmtest.Buffered,
			ToolCalls: []llmtest.ToolCall{{Name: "write_file", Arguments: json.RawMessage(`{"path":"a.txt","content":"xx"}`)}}})
		srv := newLoop(t, m.holdP, func(*llmtest.Request) llmtest.Turn { return turn })
		a := openai.New(openai.Config{BaseURL: srv.URL + "/v1", Model: "m"})
		for i := range 3 {
			resp, err := a.Stream(t.Context(), llm.Request{Messages: []llm.Message{{Role: llm.User, Content: "go"}}}, nil)
			if err != nil || resp.Message.Content != "Writing the next file." || len(resp.Message.ToolCalls) != 1 ||
				resp.Message.ToolCalls[0].Name != "write_file" || string(resp.Message.ToolCalls[0].Arguments) != `{"path":"a.txt","content":"xx"}` {
				t.Errorf("%s: turn %d = %+v, %v", m.name, i, resp, err)
			}
		}
	}
}

// Replies go out when each is due, not in arrival order: a later request
// with a shorter delay is answered first.
func TestLoopDueOrder(t *testing.T) {
	t.Parallel()
	for _, m := range loopModes {
		srv := newLoop(t, m.holdP, func(r *llmtest.Request) llmtest.Turn {
			d, _ := strconv.Atoi(string(r.Body))
			return llmtest.Turn{Content: string(r.Body), Delay: time.Duration(d) * time.Millisecond}
		})
		var mu sync.Mutex
		var order []string
		var wg sync.WaitGroup
		for i, d := range []string{"600", "300", "1"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(d))
				if err != nil {
					t.Error(err)
					return
				}
				io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				order = append(order, d)
				mu.Unlock()
			}()
			for srv.Count() <= i { // arrival order 600, 300, 1
				time.Sleep(time.Millisecond)
			}
		}
		wg.Wait()
		if got := strings.Join(order, " "); got != "1 300 600" {
			t.Errorf("%s: answered in the order %s, want 1 300 600", m.name, got)
		}
	}
}

// Malformed or refused requests get one error status and the connection
// closed; the server goes on serving, and pipelined requests are answered
// in order.
func TestLoopMalformed(t *testing.T) {
	t.Parallel()
	for _, m := range loopModes {
		srv := newLoop(t, m.holdP, func(*llmtest.Request) llmtest.Turn { return llmtest.Turn{Content: "ok"} })
		const p = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
		for _, c := range []struct{ raw, status string }{
			{"GARBAGE\r\n\r\n", "400"},
			{"POST /v1/chat/completions HTTP/2.0\r\nHost: x\r\n\r\n", "505"},
			{"POST /v1/chat/completions HTTP/1.1\r\n\r\n", "400"}, // no Host
			{p + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", "400"},
			{p + "Content-Length: 1073741824\r\n\r\n", "413"},
			{p + "X-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n", "431"},
			{"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{}", ""}, // truncated body: closed, no answer
			{"POST /v1/chat/comp", ""},                                                            // truncated head: closed
			{"GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n", "405"},
			{"POST /v1/messages HTTP/1.1\r\nHost: x\r\n\r\n", "404"}, // OpenAI only
			{"POST /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", "404"},
		} {
			got := rawExchange(t, srv.URL, c.raw)
			if c.status == "" {
				if got != "" {
					t.Errorf("%s: %.60q: answered %.80q, want the connection closed", m.name, c.raw, got)
				}
				continue
			}
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
			if err != nil {
				t.Errorf("%s: %.60q: unreadable answer %q: %v", m.name, c.raw, got, err)
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			if !strings.HasPrefix(got, "HTTP/1.1 "+c.status+" ") || int64(len(body)) != resp.ContentLength || !resp.Close {
				t.Errorf("%s: %.60q: answered %.200q, want %s with a Content-Length, closing", m.name, c.raw, got, c.status)
			}
		}
		if got := rawExchange(t, srv.URL, "HEAD /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 405 ") || !strings.HasSuffix(got, "\r\n\r\n") {
			t.Errorf("%s: HEAD answered %q, want 405 without a body", m.name, got)
		}
		// Still serving: two pipelined requests, the second closing, and
		// one ended by the client's end of its side (kept alive, then
		// closed when the server reads the end).
		body := `{"model":"m","messages":[]}`
		req := p + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		for _, raw := range []string{req + strings.Replace(req, "Host: x\r\n", "Host: x\r\nConnection: close\r\n", 1), req} {
			got := rawExchange(t, srv.URL, raw)
			r := bufio.NewReader(strings.NewReader(got))
			for i := range strings.Count(raw, "POST") {
				resp, err := http.ReadResponse(r, nil)
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("%s: pipelined reply %d: %v %v in %q", m.name, i, resp, err, got)
				}
				if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), `"content":"ok"`) {
					t.Errorf("%s: pipelined reply %d: %s", m.name, i, b)
				}
			}
		}
	}
}

// A client that sends its request and ends its side at once has its
// reply and then its connection closed, when both came in one wake of the
// loop (here, while the handler of another request held it): the end is
// not said again by the edge-triggered epoll.
func TestLoopPeerEndsWithRequest(t *testing.T) {
	t.Parallel()
	for _, m := range loopModes {
		srv := newLoop(t, m.holdP, func(r *llmtest.Request) llmtest.Turn {
			if r.N == 1 {
				time.Sleep(200 * time.Millisecond)
			}
			return llmtest.Turn{Content: "ok"}
		})
		slow, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer slow.Close()
		io.WriteString(slow, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
		for srv.Count() == 0 {
			time.Sleep(time.Millisecond)
		}
		got := rawExchange(t, srv.URL, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
		if !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.Contains(got, `"content":"ok"`) {
			t.Errorf("%s: answered %q", m.name, got)
		}
	}
}

// Requests of every size, pipelined in one write or dribbled a few bytes
// at a time, are each read whole and answered in order: a request that
// does not come whole in one read is kept until it is, and what follows a
// request is kept for the next one.
func TestLoopPipelinedSizes(t *testing.T) {
	t.Parallel()
	for _, m := range loopModes {
		srv := newLoop(t, m.holdP, func(r *llmtest.Request) llmtest.Turn {
			return llmtest.Turn{Content: "len" + strconv.Itoa(len(r.Body))}
		})
		sizes := []int{10, 7000, 64 << 10, 70 << 10, 3, 200 << 10, 16}
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
					t.Fatalf("%s: no answer for the %d-byte request after byte %d of %d", m.name, n, at, len(got))
				}
				at += i + 1
			}
			if c := strings.Count(got, "HTTP/1.1 200 OK"); c != len(sizes) {
				t.Errorf("%s: %d answers, want %d", m.name, c, len(sizes))
			}
		}
		check(rawExchange(t, srv.URL, raw.String()))

		c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
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
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		check(string(got))
	}
}

// Close ends the loop with replies still due, closes their connections
// and the listener, and may be called again.
func TestLoopClose(t *testing.T) {
	t.Parallel()
	for _, m := range loopModes {
		srv := llmtest.NewLoopServer(func(*llmtest.Request) llmtest.Turn { return llmtest.Turn{Content: "late", Delay: time.Hour} }, m.holdP)
		errc := make(chan error, 1)
		go func() {
			resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader("{}"))
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		for srv.Count() == 0 {
			time.Sleep(time.Millisecond)
		}
		srv.Close()
		srv.Close()
		if err := <-errc; err == nil {
			t.Errorf("%s: a reply due in an hour came after Close", m.name)
		}
		if c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://")); err == nil {
			c.Close()
			t.Errorf("%s: the server still listens after Close", m.name)
		}
	}
}
