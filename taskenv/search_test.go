package taskenv

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/tool/web"
	"github.com/bulwark-agents/bulwark/workspace"
)

// TestSearchOffered: web_search is a task's tool only where the operator
// configured a backend; its key is masked in what the task shows and in the
// process's logs while the task runs; a policy rule for it loads.
func TestSearchOffered(t *testing.T) {
	e, _ := newEnv(t, Options{})
	if _, ok := e.Tools.Get("web_search"); ok {
		t.Error("web_search offered without a backend")
	}
	const key = "tvly-canary-5e2b7d19c4a8f3"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	log := secret.NewRedactor()
	e, _ = newEnv(t, Options{Search: web.SearchConfig{Backend: web.Tavily, URL: srv.URL, Key: key}, LogMask: log, LogPrefix: "tn_a.t_1."})
	if _, ok := e.Tools.Get("web_search"); !ok {
		t.Fatal("web_search not offered with a backend")
	}
	if got := e.Mask("key " + key); strings.Contains(got, key) {
		t.Errorf("the task's mask left the search key: %q", got)
	}
	if got := log.String("key " + key); strings.Contains(got, key) {
		t.Errorf("the log redactor left the search key: %q", got)
	}
	e.Close()
	if err := CheckPolicyRule(bulwark.Rule{Tool: "web_search", Pattern: "*secret*", Decision: bulwark.Deny}); err != nil {
		t.Errorf("web_search(*secret*)=deny refused: %v", err)
	}
}

// TestSearchMisconfigured: a backend that does not check out fails the
// task's assembly with the reason, not a task without search.
func TestSearchMisconfigured(t *testing.T) {
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_, err = New(context.Background(), Options{TaskID: "t_1", Model: nopModel{}, Workspace: ws, Search: web.SearchConfig{Backend: web.Brave}})
	if bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(bulwark.ErrorMessage(err), "API key") {
		t.Errorf("brave without a key: %v", err)
	}
}

// TestSecretBoundToEveryHostRefused: a secret whose hosts hold "*" (which
// the stores never keep) does not reach a task: bound to every host, it
// would go to fetch_url's and the sandbox's every request.
func TestSecretBoundToEveryHostRefused(t *testing.T) {
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_, err = New(context.Background(), Options{TaskID: "t_1", Model: nopModel{}, Workspace: ws, FetchDomains: []string{"*"},
		Secrets: []bulwark.Secret{{Name: "TOKEN", Value: "tok-123456789abc", Hosts: []string{"*"}}}})
	if err == nil {
		t.Fatal("a secret bound to * was accepted")
	}
	if strings.Contains(err.Error(), "tok-123456789abc") {
		t.Errorf("the error shows the value: %v", err)
	}
}
