package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/mcpclient"
)

// The key bulwark run calls the model with is masked in everything the
// task shows, in every form the redactor finds: a model server that
// quotes it (a gateway, a hostile endpoint) in a reply or an error does
// not put it into the answer, the events or the data folder (red team,
// session 42: the hex, base64 and URL-escaped key came out whole).
func TestModelKeyQuotedByTheServerIsMasked(t *testing.T) {
	const key = "sk-Run+Key/abcdef1234567890XYZ"
	forms := []string{
		hex.EncodeToString([]byte(key)),
		base64.StdEncoding.EncodeToString([]byte(key)),
		url.QueryEscape(key),
	}
	srv := llmtest.NewServer(func(*llmtest.Request) llmtest.Turn {
		return llmtest.Turn{Content: "your key: hex " + forms[0] + " b64 " + forms[1] + " q " + forms[2]}
	})
	defer srv.Close()
	home, ws := t.TempDir(), t.TempDir()
	cmd := bulwarkCmd(t, []string{"OPENAI_API_KEY=" + key, "OPENAI_BASE_URL=" + srv.URL + "/v1"},
		"run", "--model", "openai:m", "--workspace", ws, "--json", "hi")
	cmd.Env = append(cmd.Env, "HOME="+home)
	out, _ := cmd.CombinedOutput() // the task fails: the model never calls a tool
	if !strings.Contains(string(out), "your key: hex [REDACTED:OPENAI_API_KEY] b64 [REDACTED:OPENAI_API_KEY] q [REDACTED:OPENAI_API_KEY]") {
		t.Fatalf("the answer is not shown masked:\n%s", out)
	}
	for _, f := range forms {
		if strings.Contains(string(out), f) {
			t.Errorf("the output holds the key as %q:\n%s", f, out)
		}
	}
	for _, dir := range []string{home, ws} {
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range append(forms, key) {
				if strings.Contains(string(b), f) {
					t.Errorf("%s holds the key as %q", p, f)
				}
			}
			return nil
		})
	}
}

// A served task's redactor gets the key its model is called with unless
// the tenant's secrets hold it already: the operator's shared key is not
// one of them.
func TestModelKeyMasked(t *testing.T) {
	tenant := map[string]string{"OPENAI_API_KEY": "sk-tenant-own-0123", "DB": "pw-0123456"}
	for _, tc := range []struct {
		keyVar, key string
		want        map[string]string
	}{
		{"OPENAI_API_KEY", "sk-operator-shared-0123", map[string]string{"OPENAI_API_KEY": "sk-operator-shared-0123"}},
		{"OPENAI_API_KEY", "sk-tenant-own-0123", map[string]string{}}, // masked as the tenant's secret
		{"", "a-local-key-0123", map[string]string{"model_api_key": "a-local-key-0123"}},
		{"OPENAI_API_KEY", "", map[string]string{}},
	} {
		got := modelKeyMasked(tc.keyVar, tc.key, tenant)
		if !maps.Equal(got, tc.want) {
			t.Errorf("modelKeyMasked(%q, %q) = %v, want %v", tc.keyVar, tc.key, got, tc.want)
		}
	}
}

// A served task on the operator's shared key masks it, in its encoded
// forms too; one on the tenant's own key masks that (red team, session
// 42: the shared key came out whole, hex-encoded, to every member).
func TestServedTaskMasksTheKeyItIsCalledWith(t *testing.T) {
	e := newKeysEnv(t)
	withEnv(t, map[string]string{"OPENAI_API_KEY": operatorKey, "OPENAI_BASE_URL": e.srv.URL + "/v1", "BULWARK_SANDBOX": "off",
		"BULWARK_SHARED_PROVIDER_KEYS": "on", "BULWARK_SHARED_KEY_DAILY_TOKENS": "1000"})
	lim, err := readTenantLimits()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tenant bulwark.TenantID
		key    string
	}{{e.none, operatorKey}, {e.own, tenantKey}} {
		setup, err := prepareTask(e.db, "", lim, false, nil, mcpclient.Config{}, nil, injectionSettings{})(context.Background(),
			bulwark.Task{ID: "t_1", TenantID: string(tc.tenant), Model: "openai:m"}, e.ws)
		if err != nil {
			t.Fatal(err)
		}
		for _, form := range []string{tc.key, hex.EncodeToString([]byte(tc.key)), base64.StdEncoding.EncodeToString([]byte(tc.key))} {
			if got := setup.Mask("echoed " + form + " back"); got != "echoed [REDACTED:OPENAI_API_KEY] back" {
				t.Errorf("tenant %s: Mask(%q) = %q", tc.tenant, form, got)
			}
		}
		if setup.Close != nil {
			setup.Close()
		}
	}
}
