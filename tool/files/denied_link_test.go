package files

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/workspace"
)

// A rule names paths; a symlink or hard link a command made (python's
// os.symlink with a computed name gets past the rules' reading of the
// command) gives a denied file another path. Under *(secrets/*)=deny,
// the policy allows read_file of the link's path, x: the file tools must
// refuse it themselves, as they refuse every link and every file with
// more than one hard link, and no tool may show the content.
func TestLinkToDeniedFileRefused(t *testing.T) {
	const canary = "canary-link-DENIED"
	ws, err := workspace.Open(filepath.Join(t.TempDir(), "ws"))
	mustDo(t, err)
	t.Cleanup(func() { ws.Close() })
	in := func(name string) string { return filepath.Join(ws.Path(), name) }
	mustDo(t, os.Mkdir(in("secrets"), 0o700))
	mustDo(t, os.WriteFile(in("secrets/k"), []byte(canary), 0o600))
	mustDo(t, os.Symlink("secrets/k", in("x")))
	mustDo(t, os.Symlink("secrets", in("d")))
	mustDo(t, os.Link(in("secrets/k"), in("h")))
	rules, err := bulwark.ParseRules("*(secrets/*)=deny")
	mustDo(t, err)
	policy := bulwark.Policy{Rules: rules}
	reg, env := tool.NewRegistry(Tools()...), &tool.Env{Workspace: ws}
	for _, p := range []string{"x", "d/k", "h"} {
		q, _ := json.Marshal(p)
		for _, c := range []struct{ name, args string }{
			{"read_file", `{"path":` + string(q) + `}`},
			{"edit_file", `{"path":` + string(q) + `,"old":"canary","new":"x"}`},
			{"write_file", `{"path":` + string(q) + `,"content":"x"}`},
		} {
			tl, args, err := reg.Prepare(c.name, json.RawMessage(c.args))
			mustDo(t, err)
			eff, err := tl.Effects(args)
			mustDo(t, err)
			if v := policy.Decide(tool.PolicyCall(tl, args, eff)); v.Decision != bulwark.Allow {
				t.Fatalf("%s(%q): the policy says %s; the test needs a path it allows", c.name, p, v.Decision)
			}
			res, err := call(reg, env, c.name, c.args)
			if err == nil {
				t.Errorf("%s(%q) = %q, want it refused", c.name, p, res.Output)
			}
			if strings.Contains(res.Output+bulwark.ErrorMessage(err), canary) {
				t.Errorf("%s(%q) showed the denied file's content", c.name, p)
			}
		}
	}
	for _, c := range []struct{ name, args string }{
		{"list_files", `{"path":"d"}`},
		{"search_files", `{"pattern":"canary","path":"d"}`},
	} {
		res, err := call(reg, env, c.name, c.args)
		if strings.Contains(res.Output+bulwark.ErrorMessage(err), canary) {
			t.Errorf("%s %s showed the denied file's content", c.name, c.args)
		}
	}
	if b, err := os.ReadFile(in("secrets/k")); err != nil || string(b) != canary {
		t.Errorf("secrets/k = %q, %v after the calls; want it unchanged", b, err)
	}
}

// A rule for every tool written with another spelling of a workspace
// path (/workspace/keys/*.pem, ./keys/*) refuses the file tools' calls on
// those files, whatever spelling the call uses: their targets are cleaned
// paths, which the rule as written never matched, while the sandbox hid
// the same files from commands.
func TestStarRuleOtherSpellingRefusesFileTools(t *testing.T) {
	ws, err := workspace.Open(filepath.Join(t.TempDir(), "ws"))
	mustDo(t, err)
	t.Cleanup(func() { ws.Close() })
	mustDo(t, os.Mkdir(filepath.Join(ws.Path(), "keys"), 0o700))
	mustDo(t, os.WriteFile(filepath.Join(ws.Path(), "keys/a.pem"), []byte("k"), 0o600))
	reg, env := tool.NewRegistry(Tools()...), &tool.Env{Workspace: ws}
	for _, rule := range []string{"*(/workspace/keys/*.pem)=deny", "*(./keys/*)=deny"} {
		rules, err := bulwark.ParseRules(rule)
		mustDo(t, err)
		policy := bulwark.Policy{Rules: rules}
		for _, p := range []string{"keys/a.pem", "./keys/a.pem", "/workspace/keys/a.pem", "x/../keys/a.pem"} {
			q, _ := json.Marshal(p)
			for _, c := range []struct{ name, args string }{
				{"read_file", `{"path":` + string(q) + `}`},
				{"write_file", `{"path":` + string(q) + `,"content":"x"}`},
			} {
				tl, args, err := reg.Prepare(c.name, json.RawMessage(c.args))
				if err != nil {
					continue // a spelling the tool refuses outright
				}
				eff, err := tl.Effects(args)
				if err != nil {
					continue
				}
				v := policy.Decide(tool.PolicyCall(tl, args, eff))
				if v.Decision == bulwark.Deny {
					continue
				}
				// Allowed by the rules: only a spelling the workspace
				// itself refuses (an absolute path) may be.
				if _, err := call(reg, env, c.name, c.args); err == nil {
					t.Errorf("%s: %s(%q) = %s by %q and ran, want deny", rule, c.name, p, v.Decision, v.Rule)
				}
			}
		}
	}
}
