package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/tool"
)

// canaryKey is the API key of the Brave and Tavily fakes: it must show
// nowhere but in the request to the backend.
const canaryKey = "BSA-canary-key-7f3a9c2e41d8b6"

func search(t *testing.T, tl tool.Tool, args any) (tool.Result, error) {
	t.Helper()
	raw, _ := json.Marshal(args)
	return tl.Run(context.Background(), &tool.Env{}, raw)
}

// searxng is a fake SearXNG instance on loopback (an operator's URL):
// n results, the first with markup and the query in it.
func searxng(t *testing.T, n int, got *atomic.Value) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got != nil {
			got.Store(r.URL.String())
		}
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/search") || r.URL.Query().Get("format") != "json" {
			http.Error(w, "not a search", http.StatusNotFound)
			return
		}
		q := r.URL.Query().Get("q")
		var results []map[string]any
		results = append(results, map[string]any{"title": "About <b>" + q + "</b> &amp; more", "url": "https://example.com/1",
			"content": "First\nsnippet\twith\x00 control", "engine": "duckduckgo"})
		results = append(results, map[string]any{"title": "script", "url": "javascript:alert(1)", "content": "dropped"})
		results = append(results, map[string]any{"title": "again", "url": "https://example.com/1", "content": "a repeat, dropped"})
		for i := 2; i <= n; i++ {
			results = append(results, map[string]any{"title": fmt.Sprintf("Result %d", i), "url": fmt.Sprintf("https://example.com/%d", i), "content": fmt.Sprintf("snippet %d", i)})
		}
		json.NewEncoder(w).Encode(map[string]any{"query": q, "number_of_results": n, "results": results})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestSearchSearXNG: a search through an operator's SearXNG on loopback
// shows titles, URLs and snippets as plain text, untrusted, at most limit,
// and sends exactly the query the policy judged.
func TestSearchSearXNG(t *testing.T) {
	var got atomic.Value
	srv := searxng(t, 30, &got)
	tl := WebSearch(SearchConfig{URL: srv.URL + "/"})
	if err := (SearchConfig{URL: srv.URL}).Check(); err != nil {
		t.Fatalf("Check of a loopback SearXNG URL: %v", err)
	}
	args := map[string]any{"query": "  go\nmodules\t proxy "}
	raw, _ := json.Marshal(args)
	e, err := tool.EffectsOf(tl, raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Targets) != 1 || e.Targets[0] != "go modules proxy" || len(e.Hosts) != 1 || e.Hosts[0] != "127.0.0.1" || !e.Idempotent {
		t.Errorf("effects = %+v, want the query as target and the backend's host", e)
	}
	res, err := search(t, tl, args)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Untrusted || res.IsError {
		t.Errorf("result untrusted=%v error=%v, want untrusted, no error", res.Untrusted, res.IsError)
	}
	sent := got.Load().(string)
	if !strings.Contains(sent, "q=go+modules+proxy") || !strings.HasPrefix(sent, "/search?") {
		t.Errorf("the backend was asked %q, want /search?q=go+modules+proxy&format=json", sent)
	}
	out := res.Output
	for _, want := range []string{`"go modules proxy"`, "1. About go modules proxy & more\n   https://example.com/1\n   First snippet with control",
		"5. Result 5", "https://example.com/5"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"javascript:", "a repeat", "Result 6", "<b>", "\x00", "\t"} {
		if strings.Contains(out, bad) {
			t.Errorf("output holds %q:\n%s", bad, out)
		}
	}
	res, err = search(t, tl, map[string]any{"query": "x", "limit": 20})
	if err != nil || !strings.Contains(res.Output, "20. Result 20") || strings.Contains(res.Output, "21. ") {
		t.Errorf("limit 20: %v\n%s", err, res.Output)
	}

	// A base URL with a path prefix gets /search after it.
	tl = WebSearch(SearchConfig{URL: srv.URL + "/searx"})
	if _, err := search(t, tl, map[string]any{"query": "x"}); err != nil || got.Load().(string)[:len("/searx/search?")] != "/searx/search?" {
		t.Errorf("prefix: %v, asked %q", err, got.Load())
	}
}

func TestSearchArgs(t *testing.T) {
	tl := WebSearch(SearchConfig{URL: "http://127.0.0.1:1"})
	for _, args := range []map[string]any{
		{"query": " \n\t "},
		{"query": "x", "limit": 21},
		{"query": "x", "limit": -1},
		{"query": strings.Repeat("é", MaxQueryLength+1)},
	} {
		raw, _ := json.Marshal(args)
		if _, err := tl.Effects(raw); bulwark.ErrorKind(err) != bulwark.Invalid {
			t.Errorf("Effects(%v) = %v, want Invalid", args, err)
		}
	}
}

// TestSearchKeyedBackends: Brave and Tavily get their request shapes and
// the key in their header only; the key is in neither the output nor any
// error, even from a backend that echoes it.
func TestSearchKeyedBackends(t *testing.T) {
	for _, backend := range []string{Brave, Tavily} {
		t.Run(backend, func(t *testing.T) {
			var asked atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				asked.Add(1)
				var q string
				switch backend {
				case Brave:
					if r.Method != http.MethodGet || r.Header.Get("X-Subscription-Token") != canaryKey || r.URL.Query().Get("count") != "3" {
						http.Error(w, "bad request", http.StatusUnauthorized)
						return
					}
					q = r.URL.Query().Get("q")
					fmt.Fprintf(w, `{"type":"search","web":{"type":"search","results":[{"title":"Brave <strong>%s</strong>","url":"https://brave.example/a","description":"the key is %s"}]}}`, q, canaryKey)
				case Tavily:
					var body struct {
						Query      string `json:"query"`
						MaxResults int    `json:"max_results"`
					}
					json.NewDecoder(r.Body).Decode(&body)
					if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer "+canaryKey || body.MaxResults != 3 {
						http.Error(w, "bad request", http.StatusUnauthorized)
						return
					}
					q = body.Query
					fmt.Fprintf(w, `{"query":%q,"answer":null,"results":[{"title":"Tavily %s","url":"https://tavily.example/a","content":"the key is %s","score":0.9}],"response_time":0.5}`, q, q, canaryKey)
				}
			}))
			defer srv.Close()
			cfg := SearchConfig{Backend: backend, URL: srv.URL, Key: canaryKey}
			if err := cfg.Check(); err != nil {
				t.Fatal(err)
			}
			tl := WebSearch(cfg)
			res, err := search(t, tl, map[string]any{"query": "bulwark", "limit": 3})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(res.Output, "bulwark") || !strings.Contains(res.Output, ".example/a") || strings.Contains(res.Output, canaryKey) {
				t.Errorf("output:\n%s", res.Output)
			}
			// A wrong key: the backend's refusal, without the key.
			cfg.Key = "wrong-" + canaryKey
			_, err = search(t, WebSearch(cfg), map[string]any{"query": "bulwark", "limit": 3})
			if err == nil || !strings.Contains(bulwark.ErrorMessage(err), "API key") || strings.Contains(err.Error(), canaryKey) {
				t.Errorf("wrong key: %v", err)
			}
			if (SearchConfig{Backend: backend}).Check() == nil {
				t.Error("Check accepted a keyed backend without a key")
			}
		})
	}
}

// TestSearchNoRedirect: a backend that redirects is not followed: the key
// would go along to the new host.
func TestSearchNoRedirect(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
	}))
	defer srv.Close()
	_, err := search(t, WebSearch(SearchConfig{Backend: Brave, URL: srv.URL, Key: canaryKey}), map[string]any{"query": "x"})
	if err == nil || !strings.Contains(bulwark.ErrorMessage(err), "302") || elsewhere.Load() != 0 {
		t.Errorf("redirect: %v; the other host got %d requests", err, elsewhere.Load())
	}
}

// TestSearchHostileBackend: every bad answer gives a clear error, bounded
// in size and time.
func TestSearchHostileBackend(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	for _, tt := range []struct {
		name    string
		handler http.HandlerFunc
		want    string // part of the error message
	}{
		{"huge", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"results":[`)
			for i := 0; i < 20000; i++ {
				fmt.Fprintf(w, `{"title":"t","url":"https://e.com/%d","content":"%s"},`, i, strings.Repeat("x", 100))
			}
			io.WriteString(w, `{}]}`)
		}, "larger than 64 KiB"},
		{"malformed", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"results":[{"title":`) }, "not the JSON results expected"},
		{"html", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `<html>SearXNG</html>`) }, "json format enabled"},
		{"no results field", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"query":"x"}`) }, "not the JSON results expected"},
		{"results not a list", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"results":"x"}`) }, "not the JSON results expected"},
		{"500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom "+canaryKey, 500) }, "answered 500 Internal Server Error"},
		{"403", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "forbidden", http.StatusForbidden) }, "json format enabled"},
		{"429", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "slow down", http.StatusTooManyRequests) }, "limiting the rate"},
		{"slow headers", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-block:
			case <-r.Context().Done():
			}
		}, "did not answer within"},
		{"slow body", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"results":[`)
			w.(http.Flusher).Flush()
			select {
			case <-block:
			case <-r.Context().Done():
			}
		}, "did not answer within"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			tl := WebSearch(SearchConfig{URL: srv.URL, MaxBytes: 64 << 10, Timeout: 300 * time.Millisecond})
			res, err := search(t, tl, map[string]any{"query": "x"})
			if err == nil {
				t.Fatalf("no error; output %q", res.Output)
			}
			msg := bulwark.ErrorMessage(err)
			if !strings.Contains(msg, tt.want) || bulwark.ErrorKind(err) != bulwark.Unavailable {
				t.Errorf("error %q (kind %v), want one saying %q", msg, bulwark.ErrorKind(err), tt.want)
			}
			if strings.Contains(msg, canaryKey) || strings.Contains(msg, "boom") {
				t.Errorf("the error quotes the backend's answer: %q", msg)
			}
		})
	}
}

// TestSearchOddResults: results of the wrong types or with unusable URLs
// are dropped, not shown nor fatal; none at all is a plain answer.
func TestSearchOddResults(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"results":[{"title":5,"url":["x"]},{"url":"ftp://e.com/"},{"url":"https://user:pw@e.com/"},{"url":"https://e.com/a b"},
			{"title":"`+strings.Repeat("long ", 200)+`","url":"https://e.com/ok","content":"`+strings.Repeat("s", 5000)+`"}]}`)
	}))
	defer srv.Close()
	res, err := search(t, WebSearch(SearchConfig{URL: srv.URL}), map[string]any{"query": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(res.Output, "\n1. ") != 1 || strings.Contains(res.Output, "2. ") || len(res.Output) > 2000 {
		t.Errorf("output:\n%s", res.Output)
	}
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"results":[]}`) }))
	defer empty.Close()
	res, err = search(t, WebSearch(SearchConfig{URL: empty.URL}), map[string]any{"query": "x"})
	if err != nil || !strings.HasPrefix(res.Output, "No results") {
		t.Errorf("no results: %v %q", err, res.Output)
	}
}

func TestSearchConfigCheck(t *testing.T) {
	for _, c := range []SearchConfig{
		{Backend: "google"},
		{Backend: SearXNG},
		{URL: "ftp://searx.example"},
		{URL: "searx.example"},
		{URL: "http://user:pw@searx.example"},
		{URL: "http://searx.example/?q=x"},
		{Backend: Brave, Key: " "},
		{Backend: Tavily, Key: "a\nb"},
	} {
		if err := c.Check(); err == nil || bulwark.ErrorKind(err) != bulwark.Invalid {
			t.Errorf("Check(%+v) = %v, want Invalid", c, err)
		}
	}
	for _, c := range []SearchConfig{{URL: "http://10.0.0.5:8888"}, {Backend: Brave, Key: "k"}, {Backend: "TAVILY", Key: "k"}} {
		if err := c.Check(); err != nil {
			t.Errorf("Check(%+v) = %v", c, err)
		}
	}
	if h := (SearchConfig{Backend: Brave, Key: "k"}).Host(); h != "api.search.brave.com" {
		t.Errorf("Brave's host = %q", h)
	}
	if h := (SearchConfig{Backend: Tavily, Key: "k"}).Host(); h != "api.tavily.com" {
		t.Errorf("Tavily's host = %q", h)
	}
	// An unconfigured tool refuses, with no internals.
	_, err := search(t, WebSearch(SearchConfig{}), map[string]any{"query": "x"})
	if err == nil || !strings.Contains(bulwark.ErrorMessage(err), "not set up") {
		t.Errorf("unconfigured: %v", err)
	}
}

// TestSearchPolicy: the query is the call's target, matched regardless of
// case: web_search(*secret*)=deny refuses a search for "My SECRET plan".
func TestSearchPolicy(t *testing.T) {
	tl := WebSearch(SearchConfig{URL: "http://127.0.0.1:1"})
	rules, err := bulwark.ParseRules("web_search(*secret*)=deny")
	if err != nil {
		t.Fatal(err)
	}
	if err := tool.CheckPolicy(bulwark.Policy{Rules: rules}, []tool.Tool{tl}); err != nil {
		t.Fatalf("the rule does not load: %v", err)
	}
	p := bulwark.Policy{Rules: rules}
	for q, want := range map[string]bulwark.Decision{"My SECRET\nplan": bulwark.Deny, "go modules": bulwark.Allow} {
		raw, _ := json.Marshal(map[string]string{"query": q})
		e, err := tool.EffectsOf(tl, raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Decide(tool.PolicyCall(tl, raw, e)).Decision; got != want {
			t.Errorf("web_search(%q) = %s, want %s", q, got, want)
		}
	}
}

// FuzzSearchResults: no answer makes the parser panic, and what is shown
// is lines of plain text with http(s) URLs.
func FuzzSearchResults(f *testing.F) {
	f.Add(`{"results":[{"title":"<b>a</b>","url":"https://e.com/","content":"x\u0000y"}]}`, false)
	f.Add(`{"type":"search","web":{"results":[{"title":"t","url":"http://e.com","description":"<strong>d</strong>"}]}}`, true)
	f.Add(`{"results":[{"url":"javascript:x"},{"url":"https://e.com/\n"}]}`, false)
	f.Fuzz(func(t *testing.T, body string, brave bool) {
		backend := SearXNG
		if brave {
			backend = Brave
		}
		results, err := parseResults(backend, []byte(body))
		if err != nil {
			return
		}
		shown := clean(results, MaxSearchLimit)
		if len(shown) > MaxSearchLimit {
			t.Fatalf("%d results shown", len(shown))
		}
		for _, r := range shown {
			if !strings.HasPrefix(r.URL, "http://") && !strings.HasPrefix(r.URL, "https://") {
				t.Fatalf("URL %q shown", r.URL)
			}
			for _, s := range []string{r.Title, r.URL, r.Snippet} {
				if strings.ContainsAny(s, "\n\r\x00") {
					t.Fatalf("field %q holds a line break or NUL", s)
				}
			}
		}
		formatResults("q", "h", shown)
	})
}
