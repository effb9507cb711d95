package agent_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/code"
	"github.com/bulwark-agents/bulwark/tool/web"
)

// bypass is one attempt to walk past a policy rule by spelling a call
// differently: the call must be refused (deny) or put to a person (ask),
// never run.
type bypass struct {
	rules string
	tool  string
	args  map[string]string
	want  bulwark.Decision
	def   bulwark.Decision // the policy's default; empty is allow
}

// bypassTests need only the effects the tools declare: cleaned paths, URLs,
// and shell commands as even the simplest reading splits them.
var bypassTests = []bypass{
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "rm -rf *"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "rm  -rf *"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "rm -rf   *  "}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=ask", "run_shell", map[string]string{"command": "rm\t-rf *"}, bulwark.Ask, ""},
	// A catch-all is not walked past by a command or a path that starts with *.
	{"run_shell(*)=deny", "run_shell", map[string]string{"command": "*rm -rf /"}, bulwark.Deny, ""},
	{"write_file(*)=deny", "write_file", map[string]string{"path": "*x", "content": "x"}, bulwark.Deny, ""},
	{"write_file(*.env)=deny", "write_file", map[string]string{"path": "x.env/.", "content": "x"}, bulwark.Deny, ""},
	{"write_file(*.env)=deny", "write_file", map[string]string{"path": "./prod.env", "content": "x"}, bulwark.Deny, ""},
	{"write_file( *.env )=deny", "write_file", map[string]string{"path": "prod.env", "content": "x"}, bulwark.Deny, ""},
	{"fetch_url( https://evil.example/* )=deny", "fetch_url", map[string]string{"url": "https://evil.example/x"}, bulwark.Deny, ""},
	{"write_file(src/*)=deny", "write_file", map[string]string{"path": "./src/main.py", "content": "x"}, bulwark.Deny, ""},
	{"write_file(src/*)=deny", "write_file", map[string]string{"path": "x/../src/main.py", "content": "x"}, bulwark.Deny, ""},
	{"write_file(src/*)=deny", "write_file", map[string]string{"path": "src//main.py", "content": "x"}, bulwark.Deny, ""},
	{"write_file(src/*)=deny", "write_file", map[string]string{"path": "src/./main.py", "content": "x"}, bulwark.Deny, ""},
	{"write_file(./src/*)=ask", "write_file", map[string]string{"path": "src/main.py", "content": "x"}, bulwark.Ask, ""},
	{"write_file(main.py)=deny", "write_file", map[string]string{"path": "scratch/../main.py", "content": "x"}, bulwark.Deny, ""},
	{"delete_file(*.py)=deny", "delete_file", map[string]string{"path": "a.py/"}, bulwark.Deny, ""},
	{"*(*.env)=deny", "read_file", map[string]string{"path": "config/./.env"}, bulwark.Deny, ""},
	{"fetch_url(https://intranet.*)=deny", "fetch_url", map[string]string{"url": "HTTPS://INTRANET.example.com/"}, bulwark.Deny, ""},
	{"fetch_url(https://evil.example/*)=deny", "fetch_url", map[string]string{"url": "https://evil.example./x"}, bulwark.Deny, ""},
	{"fetch_url(https://evil.example/*)=deny", "fetch_url", map[string]string{"url": "https://EVIL.example:443/x"}, bulwark.Deny, ""},
	{"fetch_url(https://evil.example/*)=deny", "fetch_url", map[string]string{"url": "  https://evil.example/x"}, bulwark.Deny, ""},
	{"fetch_url(https://evil.example/*)=deny", "fetch_url", map[string]string{"url": "https://evil.example"}, bulwark.Deny, ""},
	{"fetch_url(https://evil.example/*)=deny", "fetch_url", map[string]string{"url": "https://evil.example/a/../x#frag"}, bulwark.Deny, ""},
	{"fetch_url(https://docs.example/private/*)=deny", "fetch_url", map[string]string{"url": "https://docs.example/public/../private/x"}, bulwark.Deny, ""},
	{"fetch_url(https://docs.example/private/*)=deny", "fetch_url", map[string]string{"url": "https://docs.example/%70rivate/x"}, bulwark.Deny, ""},
	{"fetch_url(https://docs.example/private/*)=deny", "fetch_url", map[string]string{"url": "https://docs.example/public/%2e%2e/private/x"}, bulwark.Deny, ""},
	{"fetch_url(HTTPS://Evil.Example/*)=deny", "fetch_url", map[string]string{"url": "https://evil.example/x"}, bulwark.Deny, ""},
	{"fetch_url(https://xn--vil-ima.example/*)=deny", "fetch_url", map[string]string{"url": "https://ëvil.example/x"}, bulwark.Deny, ""},
	// The pattern is put in the URL's canonical form too (red team): a
	// rule written with an internationalised, full-width or dotted host,
	// a default port or an escaped letter still applies.
	{"fetch_url(https://ëvil.example/*)=deny", "fetch_url", map[string]string{"url": "https://ëvil.example/x"}, bulwark.Deny, ""},
	{"fetch_url(https://*.ëvil.example/*)=deny", "fetch_url", map[string]string{"url": "https://a.xn--vil-ima.example/x"}, bulwark.Deny, ""},
	{"fetch_url(https://ｅｖｉｌ.example/*)=deny", "fetch_url", map[string]string{"url": "https://evil.example/x"}, bulwark.Deny, ""},
	{"fetch_url(https://evil.example./*)=deny", "fetch_url", map[string]string{"url": "https://evil.example/x"}, bulwark.Deny, ""},
	{"fetch_url(https://evil.example:443/*)=deny", "fetch_url", map[string]string{"url": "https://evil.example/x"}, bulwark.Deny, ""},
	{"fetch_url(https://docs.example/%70rivate/*)=deny", "fetch_url", map[string]string{"url": "https://docs.example/private/x"}, bulwark.Deny, ""},
	{"fetch_url(https://docs.example/ü/*)=deny", "fetch_url", map[string]string{"url": "https://docs.example/ü/x"}, bulwark.Deny, ""},
}

// bypassParsedTests need the real shell parser (package shell, merged from
// its own branch): with the placeholder, which splits a script on blanks
// into one command, they fail. Run them after the merge.
var bypassParsedTests = []bypass{
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "rm -fr *"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "rm -r -f *"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "rm --recursive --force *"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "cd . && rm -rf *"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "echo hi; rm -rf *"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "true\nrm -rf *"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "ls | rm -rf *"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "(rm -rf *)"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": `\rm -rf *`}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": `'rm' -rf *`}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": `"r"m -rf *`}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "/bin/rm -rf *"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "command rm -rf *"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "env X=1 rm -rf *"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "timeout 5 rm -rf *"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "bash -c 'rm -rf *'"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": `sh -c "cd . && rm -rf *"`}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "rm -rf * # tidy up"}, bulwark.Deny, ""},
	// A flag the pattern does not name, sorting before its flags (needs
	// tool/code's commandMatch to be shell.Match: see MERGE(shell) there).
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "rm -I -rf /"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "rm -rfv /"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "find . -delete"}, bulwark.Deny, ""},
	{"run_shell(rm *)=deny", "run_shell", map[string]string{"command": "ls | xargs rm"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "rm -{r,f} *"}, bulwark.Deny, ""},
	// What cannot be known before it runs meets every deny rule.
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "$(echo rm) -rf *"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "eval 'rm -rf *'"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "x=rm; $x -rf *"}, bulwark.Deny, ""},
	{"run_shell(curl *)=ask", "run_shell", map[string]string{"command": "cd /tmp && curl https://x.example"}, bulwark.Ask, ""},
	{"run_code(rm -rf *)=deny", "run_code", map[string]string{"language": "bash", "code": "cd .\nrm -fr *\n"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "rm -R -f x"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "rm --rec --for x"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "rm -rf -- x"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "rm x -rf"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "busybox rm -rf x"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "nohup nice -n 5 rm -rf x"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "find . -name '*.py' -exec rm -rf {} +"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "echo 'rm -rf x' | bash"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "bash <<< 'rm -rf x'"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "source ./do.sh"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "alias r=rm\nr -rf x"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "f() { rm -rf \"$1\"; }; f x"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "o=-rf; rm $o x"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "rm -r$x x"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "$'\\x72m' -rf x"}, bulwark.Deny, ""},
	// Static-looking scripts that run what a value, a link or the
	// environment holds (red team): bash evaluates a variable read in
	// arithmetic, and a subscript in its value runs commands.
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "x='a[$(rm -rf *)]'; echo $((x))"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "unset 'a[$(rm -rf *)]'"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "ln -s /bin/rm x; ./x -rf *"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "ln -s /bin/rm /tmp/ls; PATH=/tmp ls -rf *"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "env 'BASH_FUNC_ls%%=() { rm -rf *; }' bash -c ls"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "PS4='$(rm -rf *)'; set -x; ls"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "flock /tmp/l -c 'rm -rf *'"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "echo 'rm -rf *' > x.sh; bash x.sh"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "echo x | split --filter='rm -rf *'"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "echo 'rm -rf *' | sort -S 1k --compress-program=bash"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "awk 'BEGIN { system(\"rm -rf *\") }'"}, bulwark.Deny, ""},
	{"run_shell(rm -rf *)=deny", "run_shell", map[string]string{"command": "echo 'rm -rf *' | sed 's/^//e'"}, bulwark.Deny, ""},
	// A file read or written through a redirection is part of what the
	// command does (red team).
	{"*(*.env)=deny", "run_shell", map[string]string{"command": "cat < prod.env"}, bulwark.Deny, ""},
	{"*(*.env)=deny", "run_shell", map[string]string{"command": "echo x > prod.env"}, bulwark.Deny, ""},
	{"*(*.env)=deny", "run_shell", map[string]string{"command": "cat; cat < prod.env"}, bulwark.Deny, ""},
	{"*(*.env)=deny", "run_shell", map[string]string{"command": "while read l; do echo $l; done < prod.env"}, bulwark.Deny, ""},
	{"run_shell(cat *.env)=deny", "run_shell", map[string]string{"command": "cat<prod.env"}, bulwark.Deny, ""},
	{"*(*.env)=ask", "run_shell", map[string]string{"command": "echo x >& prod.env"}, bulwark.Ask, ""},
	// A file named anywhere in a command, not only at its end, is matched
	// by a one-word deny or ask pattern (red team); an allow rule is not
	// widened so.
	{"*(*.env)=deny", "run_shell", map[string]string{"command": "cat prod.env /dev/null"}, bulwark.Deny, ""},
	{"*(*.env)=deny", "run_shell", map[string]string{"command": "cp prod.env x.txt"}, bulwark.Deny, ""},
	{"*(*.env)=deny", "run_shell", map[string]string{"command": "cat < prod.env > out.txt"}, bulwark.Deny, ""},
	{"*(*.env)=deny", "run_shell", map[string]string{"command": "grep -e KEY -- prod.env x"}, bulwark.Deny, ""},
	{"*(*.env)=ask", "run_code", map[string]string{"language": "bash", "code": "base64 prod.env -w 0 | rev"}, bulwark.Ask, ""},
	{"run_shell(*.env)=deny", "run_shell", map[string]string{"command": "tar cf x.tar prod.env x"}, bulwark.Deny, ""},
	// A file named in another spelling of its path (red team): cleaned as
	// a file tool's path is, the sandbox's /workspace/ dropped, the value
	// of a --flag=FILE read too.
	{"*(secrets/*)=deny", "run_shell", map[string]string{"command": "cat ./secrets//k"}, bulwark.Deny, ""},
	{"*(secrets/*)=deny", "run_shell", map[string]string{"command": "cat x/../secrets/k"}, bulwark.Deny, ""},
	{"*(secrets/*)=deny", "run_shell", map[string]string{"command": "cat /workspace/secrets/k"}, bulwark.Deny, ""},
	{"*(secrets/*)=ask", "run_shell", map[string]string{"command": "grep --file=secrets/k x"}, bulwark.Ask, ""},
	{"*(secrets/*)=deny", "run_shell", map[string]string{"command": "cat < ./secrets/k"}, bulwark.Deny, ""},
	// A file named from another working folder (red team): cd, pushd,
	// subshells, env -C, git -C, and a folder only known at run time.
	{"*(secrets/*)=deny", "run_shell", map[string]string{"command": "cd secrets; cat k"}, bulwark.Deny, ""},
	{"*(secrets/*)=deny", "run_shell", map[string]string{"command": "(cd ./x/../secrets && cat k)"}, bulwark.Deny, ""},
	{"*(secrets/*)=ask", "run_shell", map[string]string{"command": "cd \"$(echo secrets)\"; cat k"}, bulwark.Ask, ""},
	{"*(secrets/*)=deny", "run_shell", map[string]string{"command": "env -C secrets cat k"}, bulwark.Deny, ""},
	{"*(secrets/*)=deny", "run_shell", map[string]string{"command": "git -C secrets log -p"}, bulwark.Deny, ""},
	{"*(secrets/*)=deny", "run_shell", map[string]string{"command": "sh -c 'cd secrets; cat k'"}, bulwark.Deny, ""},
	{"*(secrets/*)=deny", "run_code", map[string]string{"language": "bash", "code": "pushd secrets\ncat k\n"}, bulwark.Deny, ""},
	// A glob the shell expands to a file the rule names (red team).
	{"*(*.env)=deny", "run_shell", map[string]string{"command": "cat prod.en?"}, bulwark.Deny, ""},
	{"*(*.env)=deny", "run_shell", map[string]string{"command": "cat prod.[e]nv"}, bulwark.Deny, ""},
	{"*(*.env)=deny", "run_shell", map[string]string{"command": "timeout 5 cat config/p*"}, bulwark.Deny, ""},
	{"*(secrets/*)=ask", "run_shell", map[string]string{"command": "cat secre?s/k"}, bulwark.Ask, ""},
	{"run_shell(git *)=allow; run_shell(*gitx)=allow", "run_shell", map[string]string{"command": "curl gitx x"}, bulwark.Deny, bulwark.Deny},
	// Under a default of deny, an allow rule for one command of a script
	// does not carry the others: each is decided on its own.
	{"run_shell(git *)=allow", "run_shell", map[string]string{"command": "git status; rm -rf /"}, bulwark.Deny, bulwark.Deny},
	{"run_shell(git *)=allow", "run_shell", map[string]string{"command": "git status && $(curl x)"}, bulwark.Deny, bulwark.Deny},
	{"run_shell(git *)=allow", "run_shell", map[string]string{"command": "git log | sh"}, bulwark.Deny, bulwark.Deny},
	{"run_shell(git status)=allow", "run_shell", map[string]string{"command": "git status --exec=x"}, bulwark.Deny, bulwark.Deny},
	{"write_file(notes/*)=allow", "write_file", map[string]string{"path": "notes/../main.py", "content": "x"}, bulwark.Deny, bulwark.Deny},
}

func TestPolicyBypass(t *testing.T) { runBypasses(t, bypassTests) }

// TestPolicyBypassParsed: see bypassParsedTests; fails until the real
// shell parser is merged.
func TestPolicyBypassParsed(t *testing.T) { runBypasses(t, bypassParsedTests) }

func runBypasses(t *testing.T, tests []bypass) {
	for _, tt := range tests {
		t.Run(tt.rules+" "+tt.args["command"]+tt.args["path"]+tt.args["url"]+tt.args["code"], func(t *testing.T) {
			rules, err := bulwark.ParseRules(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, "openai", llmtest.Script(
				llmtest.Turn{ToolCalls: []llmtest.ToolCall{call(tt.tool, tt.args)}},
				finish("ok"),
			))
			var ran [][]string
			h.cfg.Tools.Add(code.Shell())
			h.cfg.Tools.Add(code.Code())
			h.cfg.Tools.Add(web.FetchURL(web.Config{}))
			h.cfg.Env.Exec = func(_ context.Context, cmd []string) (*tool.ExecResult, error) {
				ran = append(ran, cmd)
				return &tool.ExecResult{}, nil
			}
			h.cfg.Policy = bulwark.Policy{Rules: rules, Default: tt.def}
			if err := tool.CheckPolicy(h.cfg.Policy, allToolsOf(h)); err != nil {
				t.Fatalf("the policy does not load: %v", err)
			}
			var asked []bulwark.Approval
			h.cfg.Approve = func(_ context.Context, a bulwark.Approval) (bool, error) {
				asked = append(asked, a)
				return false, nil
			}
			h.run(t, context.Background())
			if len(ran) > 0 {
				t.Errorf("the call ran: %q", ran)
			}
			if p := tt.args["path"]; p != "" && tt.tool == "write_file" {
				if _, err := h.ws.Stat(p); err == nil {
					t.Errorf("the file %q was written", p)
				}
			}
			var got bulwark.Decision
			for _, e := range h.ofType(bulwark.EventApproval) {
				switch {
				case e.Decision == "":
					got = bulwark.Ask
				case e.DecidedBy == bulwark.DecidedByPolicy && got == "":
					got = bulwark.Decision(e.Decision)
				}
			}
			if got != tt.want {
				res := h.ofType(bulwark.EventToolResult)
				t.Errorf("decision %q (result %q), want %q", got, res[0].Text, tt.want)
			}
			if tt.want == bulwark.Ask && (len(asked) != 1 || asked[0].Rule != rules[0].String()) {
				t.Errorf("approvals asked %+v, want one by the rule", asked)
			}
		})
	}
}

func allToolsOf(h *harness) []tool.Tool {
	var out []tool.Tool
	for _, n := range h.cfg.Tools.Names() {
		t, _ := h.cfg.Tools.Get(n)
		out = append(out, t)
	}
	return out
}

// TestPolicyLoadRefusesRulesThatCannotMatch: a rule that names no tool, or
// that no call could ever match, is refused when the policy loads instead of
// being accepted and never applied.
func TestPolicyLoadRefusesRulesThatCannotMatch(t *testing.T) {
	h := newHarness(t, "openai", llmtest.Script(finish("ok")))
	h.cfg.Tools.Add(code.Shell())
	h.cfg.Tools.Add(web.FetchURL(web.Config{}))
	for _, s := range []string{"shell(rm *)=deny", "write_file(../x)=deny", "finish(x)=deny",
		"fetch_url(evil.example)=deny", "fetch_url(evil.example/*)=deny", "fetch_url(https://evil.example)=deny", "fetch_url(ftp://evil.example/*)=deny"} {
		rules, err := bulwark.ParseRules(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := tool.CheckPolicy(bulwark.Policy{Rules: rules}, allToolsOf(h)); err == nil || bulwark.ErrorKind(err) != bulwark.Invalid {
			t.Errorf("CheckPolicy(%s) = %v, want an invalid-policy error", s, err)
		}
	}
}

// TestToolCallEventsCarryEffects: the tool_call event, which the audit log
// and the Agent Protocol's artifacts read, holds the cleaned path.
func TestToolCallEventsCarryEffects(t *testing.T) {
	h := newHarness(t, "openai", llmtest.Script(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "x/../src/./main.py", "content": "x"})}},
		finish("ok"),
	))
	h.run(t, context.Background())
	calls := h.ofType(bulwark.EventToolCall)
	if len(calls) != 2 || calls[0].Effects == nil {
		t.Fatalf("tool_call events %+v, want effects on the first", calls)
	}
	b, _ := json.Marshal(calls[0].Effects)
	if e := calls[0].Effects; len(e.Writes) != 1 || e.Writes[0] != "src/main.py" || strings.Contains(string(b), "x/..") {
		t.Errorf("effects %s, want the write of src/main.py", b)
	}
}

// TestSearchFilesKeepsToPolicy: search_files reads every file under the
// folder it is given, and a file a deny or ask rule names is one it finds
// only while it runs: it is judged as read_file's target would be, and
// left out, so *(*.env)=deny is not walked past by searching "." (red team).
func TestSearchFilesKeepsToPolicy(t *testing.T) {
	for _, rules := range []string{"*(*.env)=deny", "search_files(config/*)=ask"} {
		h := newHarness(t, "openai", llmtest.Script(
			llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("search_files", map[string]string{"pattern": "KEY"})}},
			finish("ok"),
		))
		for name, text := range map[string]string{"config/prod.env": "API_KEY=hunter2\n", "config/a.txt": "KEY ask\n", "notes.txt": "KEY here\n"} {
			if err := h.ws.WriteFile(name, []byte(text)); err != nil {
				t.Fatal(err)
			}
		}
		r, err := bulwark.ParseRules(rules)
		if err != nil {
			t.Fatal(err)
		}
		h.cfg.Policy = bulwark.Policy{Rules: r}
		h.run(t, context.Background())
		res := h.ofType(bulwark.EventToolResult)
		if len(res) == 0 {
			t.Fatalf("%s: no tool result", rules)
		}
		out := res[0].Text
		if strings.Contains(out, "hunter2") || (strings.HasSuffix(rules, "=ask") && strings.Contains(out, "KEY ask")) {
			t.Errorf("%s: search_files showed a file the policy keeps back:\n%s", rules, out)
		}
		if !strings.Contains(out, "notes.txt:1: KEY here") || !strings.Contains(out, "policy") {
			t.Errorf("%s: want the other file's match and a note of the files left out:\n%s", rules, out)
		}
	}
}
