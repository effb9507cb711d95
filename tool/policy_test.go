package tool_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/code"
	"github.com/bulwark-agents/bulwark/tool/files"
	"github.com/bulwark-agents/bulwark/tool/interact"
	"github.com/bulwark-agents/bulwark/tool/web"
)

func allTools() []tool.Tool {
	return append(files.Tools(), code.Shell(), code.Code(), web.FetchURL(web.Config{}), interact.Finish(), interact.AskUser())
}

var checkPolicyTests = []struct {
	rules string
	want  string // in the error; "" for none
}{
	{"run_shell(rm -rf *)=deny; write_file(*.env)=deny; fetch_url(https://intranet*)=ask; run_code(python: *)=ask", ""},
	{"*=ask; *(*.env)=deny; finish=allow; read_file=allow", ""},
	{"mcp__github__create_issue=ask", ""},
	{"write_file(./src/*)=deny", ""},
	{"shell(rm *)=deny", "names no tool"},
	{"run-shell=deny", "names no tool"},
	{"mcp__=deny", "names no tool"},
	{"mcp__github__*=deny; mcp__my-db__drop_table_v2(*)=ask; mcp__a__b=allow", ""},
	// A server's tool "drop_table.v2" is offered as ..._drop_table_v2: the
	// rule as the server spells it would never match.
	{"mcp__my-db__drop_table.v2(*)=ask", "other characters of a server's tool name become _"},
	// No server may be called "a_" (mcp__a___b would be "a"'s tool "_b").
	{"mcp__a___*=deny", "names no tool"},
	{"mcp__github=deny", "names no tool"},
	{"mcp__github__=deny", "names no tool"},
	{"mcp____x=deny", "names no tool"},
	{"mcp__gitüb__x=deny", "names no tool"},
	{"mcp__github__create/issue=deny", "names no tool"},
	{"mcp__github__cre*=deny", "names no tool"},
	{"mcp__" + strings.Repeat("s", 33) + "__x=deny", "names no tool"},
	{"mcp__s__" + strings.Repeat("t", 129) + "=deny", "names no tool"},
	{"finish(x)=deny", "no target a pattern can name"},
	{"ask_user(*)=deny", "no target a pattern can name"},
	{"write_file(../x)=deny", "not a path inside the workspace"},
	{"read_file(a/../../x)=deny", "not a path inside the workspace"},
	{"run_shell( )=deny", "names no command"},
}

func TestCheckPolicy(t *testing.T) {
	for _, tt := range checkPolicyTests {
		rules, err := bulwark.ParseRules(tt.rules)
		if err != nil {
			t.Fatalf("ParseRules(%q): %v", tt.rules, err)
		}
		err = tool.CheckPolicy(bulwark.Policy{Rules: rules}, allTools())
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckPolicy(%q) = %v, want no error", tt.rules, err)
		case tt.want != "" && (err == nil || !strings.Contains(bulwark.ErrorMessage(err), tt.want)):
			t.Errorf("CheckPolicy(%q) = %v, want an error saying %q", tt.rules, err, tt.want)
		case err != nil && bulwark.ErrorKind(err) != bulwark.Invalid:
			t.Errorf("CheckPolicy(%q) error kind %v, want invalid", tt.rules, bulwark.ErrorKind(err))
		}
	}
}

// fileEffectsTests: every spelling of a path is declared in the form the
// workspace acts on.
var fileEffectsTests = []struct {
	tool                   string
	args                   string
	reads, writes, removes []string
}{
	{"write_file", `{"path":"x.env/.","content":""}`, nil, []string{"x.env"}, nil},
	{"write_file", `{"path":"./src/main.py","content":""}`, nil, []string{"src/main.py"}, nil},
	{"write_file", `{"path":"x/../src/main.py","content":""}`, nil, []string{"src/main.py"}, nil},
	{"write_file", `{"path":"scratch/../main.py","content":""}`, nil, []string{"main.py"}, nil},
	{"edit_file", `{"path":"a//b.txt","old":"x","new":"y"}`, []string{"a/b.txt"}, []string{"a/b.txt"}, nil},
	{"delete_file", `{"path":"./old.txt"}`, nil, []string{"old.txt"}, []string{"old.txt"}},
	{"read_file", `{"path":"src/./a.py"}`, []string{"src/a.py"}, nil, nil},
	{"list_files", `{}`, []string{"."}, nil, nil},
	{"search_files", `{"pattern":"x","path":"src/"}`, []string{"src"}, nil, nil},
}

func TestFileEffects(t *testing.T) {
	reg := tool.NewRegistry(allTools()...)
	for _, tt := range fileEffectsTests {
		tl, args, err := reg.Prepare(tt.tool, json.RawMessage(tt.args))
		if err != nil {
			t.Fatalf("Prepare(%s, %s): %v", tt.tool, tt.args, err)
		}
		e, err := tool.EffectsOf(tl, args)
		if err != nil {
			t.Errorf("%s %s: %v", tt.tool, tt.args, err)
			continue
		}
		target := append(append([]string{}, tt.reads...), tt.writes...)[:1]
		if !slices.Equal(e.Reads, tt.reads) || !slices.Equal(e.Writes, tt.writes) || !slices.Equal(e.Removes, tt.removes) || !slices.Equal(e.Targets, target) {
			t.Errorf("%s %s: effects %+v, want reads %q, writes %q, removes %q, target %q", tt.tool, tt.args, e, tt.reads, tt.writes, tt.removes, target)
		}
	}
	tl, _ := reg.Get("write_file")
	if e, err := tool.EffectsOf(tl, json.RawMessage(`{"path":"../x","content":""}`)); err == nil {
		t.Errorf("a path outside the workspace was declared: %+v", e)
	}
}

func TestFetchEffects(t *testing.T) {
	tl := web.FetchURL(web.Config{})
	e, err := tool.EffectsOf(tl, json.RawMessage(`{"url":"HTTPS://Docs.Example.COM/Page?q=1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.Hosts, []string{"docs.example.com"}) || !slices.Equal(e.URLs, []string{"https://docs.example.com/Page?q=1"}) || !slices.Equal(e.Targets, e.URLs) {
		t.Errorf("fetch_url effects %+v", e)
	}
}

// plainMCP is an MCP tool that declares no Patterns of its own.
type plainMCP struct{ tool.Tool }

func (plainMCP) Name() string { return "mcp__everything__echo" }

// TestMCPRulePatternsMatchAsWritten: a rule with a pattern for an MCP
// tool matches its calls (the arguments as JSON) as written, even where
// the tool declares no Patterns: mcp__everything__echo(*)=deny must not
// silently match nothing.
func TestMCPRulePatternsMatchAsWritten(t *testing.T) {
	p := bulwark.Policy{Rules: []bulwark.Rule{{Tool: "mcp__everything__echo", Pattern: "*", Decision: bulwark.Deny},
		{Tool: "mcp__everything__*", Pattern: `*"message":"rm*`, Decision: bulwark.Ask}}}
	c := tool.PolicyCall(plainMCP{}, nil, tool.Effects{Targets: []string{`{"message":"hi"}`}})
	if v := p.Decide(c); v.Decision != bulwark.Deny {
		t.Errorf("verdict %+v, want deny", v)
	}
	p.Rules = p.Rules[1:]
	c = tool.PolicyCall(plainMCP{}, nil, tool.Effects{Targets: []string{`{"message":"rm -rf"}`}})
	if v := p.Decide(c); v.Decision != bulwark.Ask {
		t.Errorf("verdict %+v, want ask", v)
	}
}
