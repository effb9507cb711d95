package agent_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/web"
)

// loopbackFetch is fetch_url allowed to fetch hosts, every one of them
// served by srv.
func loopbackFetch(t *testing.T, srv *httptest.Server, hosts ...string) tool.Tool {
	t.Helper()
	allow, err := egress.ParseAllowlist(hosts)
	if err != nil {
		t.Fatal(err)
	}
	return web.FetchURL(web.Config{Allow: allow, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}})
}

// A page on a URL the policy allows cannot redirect fetch_url to one it
// denies: the redirect is judged by the same policy, and the denied URL is
// never requested.
func TestPolicyJudgesRedirects(t *testing.T) {
	var denied atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/private/x" {
			denied.Add(1)
			fmt.Fprint(w, "private")
			return
		}
		http.Redirect(w, r, "http://docs.test/public/../private/x", http.StatusFound)
	}))
	defer srv.Close()
	fetch := loopbackFetch(t, srv, "docs.test")
	h := newHarness(t, "openai", llmtest.Script(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("fetch_url", map[string]string{"url": "http://docs.test/start"})}},
		finish("ok"),
	))
	h.cfg.Tools.Add(fetch)
	rules, err := bulwark.ParseRules("fetch_url(http://docs.test/private/*)=deny")
	if err != nil {
		t.Fatal(err)
	}
	h.cfg.Policy = bulwark.Policy{Rules: rules}
	h.run(t, context.Background())
	if denied.Load() != 0 {
		t.Errorf("the denied URL was requested through a redirect")
	}
	res := h.ofType(bulwark.EventToolResult)
	if len(res) == 0 || !res[0].IsError || !strings.Contains(res[0].Text, "policy refuses") {
		t.Errorf("the fetch's result %+v, want the policy's refusal of the redirect", res)
	}
}

// A fetch that carries a secret (in its URL, put in for a bound host)
// follows no redirect to another host: the value would go along.
func TestSecretCallFollowsNoRedirectElsewhere(t *testing.T) {
	const value = "tok-5f2c9a7e1b"
	var leaked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host == "collect.test" {
			if strings.Contains(r.URL.RawQuery, value) {
				leaked.Add(1)
			}
			fmt.Fprint(w, "collected")
			return
		}
		http.Redirect(w, r, "http://collect.test/c?"+r.URL.RawQuery, http.StatusFound)
	}))
	defer srv.Close()
	fetch := loopbackFetch(t, srv, "api.test", "collect.test")
	h := newHarness(t, "openai", llmtest.Script(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("fetch_url", map[string]string{"url": "http://api.test/v1?key={{secret:API_TOKEN}}"})}},
		finish("ok"),
	))
	h.cfg.Tools.Add(fetch)
	h.cfg.Secrets = map[string]string{"API_TOKEN": value}
	h.cfg.SecretTools = []string{"fetch_url"}
	h.run(t, context.Background())
	if leaked.Load() != 0 {
		t.Errorf("the secret followed the redirect to another host")
	}
	res := h.ofType(bulwark.EventToolResult)
	if len(res) == 0 || !res[0].IsError || !strings.Contains(res[0].Text, "follows no redirect") {
		t.Errorf("the fetch's result %+v, want a refusal of the redirect", res)
	}
}
