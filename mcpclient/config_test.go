package mcpclient

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

var parseTests = []struct {
	doc     string
	trusted bool
	want    string // a part of the error; "" means it parses
}{
	{`{"mcpServers":{}}`, false, ""},
	{`{}`, false, ""},
	{`{"mcpServers":{"gh":{"command":"npx","args":["-y","srv"],"env":{"TOKEN":"{{secret:GH}}"}}}}`, false, ""},
	{`{"mcpServers":{"gh":{"type":"stdio","command":"npx"}}}`, false, ""},
	{`{"mcpServers":{"web":{"url":"https://mcp.example.com/mcp","headers":{"Authorization":"Bearer {{secret:T}}"}}}}`, false, ""},
	{`{"mcpServers":{"web":{"type":"http","url":"https://mcp.example.com/mcp"}}}`, false, ""},
	{`{"mcpServers":{"fs":{"command":"/usr/bin/srv","readOnlyPaths":["/opt/data"],"allowCommands":["/usr/bin/node"]}}}`, true, ""},

	{`[]`, false, "must be a JSON object"},
	{`{"mcpServers":{}} x`, false, "not valid JSON"},
	{`{"servers":{}}`, false, `unknown field "servers"`},
	{`{"mcpServers":[]}`, false, "must be an object of servers"},
	{`{"mcpServers":{"a":{"command":"x"},"a":{"command":"y"}}}`, false, `key "a" appears twice`},
	{`{"mcpServers":{"a":{"command":"x","command":"y"}}}`, false, `appears twice`},
	{`{"mcpServers":{"a b":{"command":"x"}}}`, false, `MCP server name "a b"`},
	{`{"mcpServers":{"a__b":{"command":"x"}}}`, false, `without "__"`},
	// mcp__a___b would be server "a_"'s tool "b" and server "a"'s tool
	// "_b", and a rule mcp__a__* for "a" would match "a_"'s tools.
	{`{"mcpServers":{"a_":{"command":"x"}}}`, false, `not ending with _`},
	// Policy rules match a server's name in any case.
	{`{"mcpServers":{"GitHub":{"command":"x"},"github":{"command":"y"}}}`, false, `differ in case only`},
	// A placeholder outside env and headers would reach the server as written.
	{`{"mcpServers":{"a":{"command":"x","args":["--token={{secret:T}}"]}}}`, false, `not filled into arguments`},
	{`{"mcpServers":{"a":{"command":"/opt/{{secret:T}}/x"}}}`, true, `not filled into the command`},
	{`{"mcpServers":{"_a":{"command":"x"}}}`, false, ``},
	{`{"mcpServers":{"abcdefghijabcdefghijabcdefghijabc":{"command":"x"}}}`, false, "1 to 32"},
	{`{"mcpServers":{"a":{}}}`, false, `MCP server "a" needs "command"`},
	{`{"mcpServers":{"a":{"command":"x","url":"https://x.com"}}}`, false, `both "command" and "url"`},
	{`{"mcpServers":{"a":{"command":"x","Command":"y"}}}`, false, `unknown field "Command"`},
	{`{"mcpServers":{"a":{"command":"x","cwd":"/"}}}`, false, `unknown field "cwd"`},
	{`{"mcpServers":{"a":{"command":["x"]}}}`, false, `field "command": wrong type`},
	{`{"mcpServers":{"a":{"type":"sse","command":"x"}}}`, false, `"sse" needs "url"`},
	{`{"mcpServers":{"a":{"url":"ftp://x.com/"}}}`, false, `want an http or https URL`},
	{`{"mcpServers":{"a":{"url":"file:///etc/passwd"}}}`, false, `want an http or https URL`},
	{`{"mcpServers":{"a":{"url":"https://user:pw@x.com/"}}}`, false, `user name or password`},
	{`{"mcpServers":{"a":{"url":"https:///x"}}}`, false, `no host`},
	{`{"mcpServers":{"a":{"url":"https://x.com/{{secret:T}}"}}}`, false, `not filled into URLs`},
	{`{"mcpServers":{"a":{"url":"https://x.com/","args":["-v"]}}}`, false, `"args" and "env" are for stdio`},
	{`{"mcpServers":{"a":{"command":"x","headers":{"A":"b"}}}}`, false, `headers are for HTTP`},
	{`{"mcpServers":{"a":{"command":"x","env":{"PATH":"/tmp"}}}}`, false, `PATH is set by Bulwark's sandbox`},
	{`{"mcpServers":{"a":{"command":"x","env":{"path":"/tmp"}}}}`, false, `is set by Bulwark's sandbox`},
	{`{"mcpServers":{"a":{"command":"x","env":{"LD_PRELOAD":"/tmp/x.so"}}}}`, false, `LD_PRELOAD is set by`},
	{`{"mcpServers":{"a":{"command":"x","env":{"https_proxy":"http://evil"}}}}`, false, `is set by`},
	{`{"mcpServers":{"a":{"command":"x","env":{"NODE_EXTRA_CA_CERTS":"/x"}}}}`, false, `is set by`},
	{`{"mcpServers":{"a":{"command":"x","env":{"HOME":"/"}}}}`, false, `is set by`},
	{`{"mcpServers":{"a":{"command":"x","env":{"1X":"y"}}}}`, false, `not a valid variable name`},
	{`{"mcpServers":{"a":{"command":"x","env":{"A=B":"y"}}}}`, false, `not a valid variable name`},
	{`{"mcpServers":{"a":{"command":"x","env":{"A":"{{secret:bad name}}"}}}}`, false, `malformed secret placeholder`},
	{`{"mcpServers":{"a":{"command":"x","args":["a\u0000b"]}}}`, false, `NUL`},
	{`{"mcpServers":{"a":{"url":"https://x.com/","headers":{"Host":"evil.com"}}}}`, false, `Host is set by the transport`},
	{`{"mcpServers":{"a":{"url":"https://x.com/","headers":{"X-A":"a\r\nB: c"}}}}`, false, `characters a header cannot carry`},
	{`{"mcpServers":{"a":{"url":"https://x.com/","headers":{"X A":"b"}}}}`, false, `not a valid header name`},
	{`{"mcpServers":{"fs":{"command":"x","readOnlyPaths":["/opt"]}}}`, false, `only allowed in the operator's configuration`},
	{`{"mcpServers":{"fs":{"command":"x","allowCommands":["/bin/sh"]}}}`, false, `only allowed in the operator's configuration`},
	{`{"mcpServers":{"fs":{"command":"x","readOnlyPaths":["opt"]}}}`, true, `absolute, clean path`},
	{`{"mcpServers":{"fs":{"command":"x","readOnlyPaths":["/opt/../etc"]}}}`, true, `absolute, clean path`},
	{`{"mcpServers":{"fs":{"command":"x","readOnlyPaths":["/"]}}}`, true, `absolute, clean path`},
	{`{"mcpServers":{"fs":{"url":"https://x.com","readOnlyPaths":["/opt"]}}}`, true, `for stdio servers`},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		_, err := Parse([]byte(tt.doc), tt.trusted)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Parse(%s) = %v, want no error", tt.doc, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || bulwark.ErrorKind(err) != bulwark.Invalid):
			t.Errorf("Parse(%s) = %v, want Invalid %q", tt.doc, err, tt.want)
		}
	}
}

func TestParseLimits(t *testing.T) {
	many := map[string]any{}
	for i := range MaxServers + 1 {
		many[strings.Repeat("s", 1+i%30)+string(rune('a'+i%26))+string(rune('a'+i/26))] = map[string]any{"command": "x"}
	}
	doc, _ := json.Marshal(map[string]any{"mcpServers": many})
	if _, err := Parse(doc, false); err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("too many servers: %v", err)
	}
	args := make([]string, MaxArgs+1)
	doc, _ = json.Marshal(map[string]any{"mcpServers": map[string]any{"a": map[string]any{"command": "x", "args": args}}})
	if _, err := Parse(doc, false); err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("too many args: %v", err)
	}
	doc, _ = json.Marshal(map[string]any{"mcpServers": map[string]any{"a": map[string]any{"command": strings.Repeat("x", MaxValue+1)}}})
	if _, err := Parse(doc, false); err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("too long a value: %v", err)
	}
	if _, err := Parse([]byte(`{"mcpServers":{"a":{"command":"`+strings.Repeat("x", MaxDocument)+`"}}}`), false); err == nil {
		t.Error("an oversized document parsed")
	}
}

func TestParseResult(t *testing.T) {
	c, err := Parse([]byte(`{"mcpServers":{"b":{"url":"https://x.com/mcp","headers":{"Authorization":"Bearer {{secret:TOK}}"}},
		"a":{"command":"npx","args":["-y"],"env":{"K":"{{secret:API}}-{{secret:TOK}}"}}}}`), false)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Servers: []Server{
		{Name: "a", Command: "npx", Args: []string{"-y"}, Env: map[string]string{"K": "{{secret:API}}-{{secret:TOK}}"}},
		{Name: "b", URL: "https://x.com/mcp", Headers: map[string]string{"Authorization": "Bearer {{secret:TOK}}"}},
	}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse = %+v, want %+v", c, want)
	}
	if got := c.SecretNames(); !reflect.DeepEqual(got, []string{"API", "TOK"}) {
		t.Errorf("SecretNames = %v", got)
	}
}

func TestMerge(t *testing.T) {
	op, _ := Parse([]byte(`{"mcpServers":{"gh":{"url":"http://127.0.0.1:9/mcp"}}}`), true)
	tenant, _ := Parse([]byte(`{"mcpServers":{"fs":{"command":"x"}}}`), false)
	m, err := op.Merge(tenant)
	if err != nil || len(m.Servers) != 2 || m.Servers[0].Name != "fs" || m.Servers[0].Trusted || !m.Servers[1].Trusted {
		t.Errorf("Merge = %+v, %v", m, err)
	}
	dup, _ := Parse([]byte(`{"mcpServers":{"gh":{"command":"x"}}}`), false)
	if _, err := op.Merge(dup); bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(err.Error(), `"gh"`) {
		t.Errorf("Merge of a duplicate name = %v", err)
	}
	// A tenant's "GH" would share the operator's rules for "gh".
	upper, _ := Parse([]byte(`{"mcpServers":{"GH":{"command":"x"}}}`), false)
	if _, err := op.Merge(upper); bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(err.Error(), "differ in case only") {
		t.Errorf("Merge of a name differing in case = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, tt := range parseTests {
		f.Add([]byte(tt.doc), tt.trusted)
	}
	f.Fuzz(func(t *testing.T, doc []byte, trusted bool) {
		c, err := Parse(doc, trusted)
		if err != nil {
			if bulwark.ErrorKind(err) != bulwark.Invalid {
				t.Fatalf("Parse error of kind %v: %v", bulwark.ErrorKind(err), err)
			}
			return
		}
		again, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := Parse(again, trusted)
		if err != nil {
			t.Fatalf("Parse(%s) = %v, after Parse(%q)", again, err, doc)
		}
		if !reflect.DeepEqual(normal(c), normal(c2)) {
			t.Fatalf("round trip: %+v != %+v", c, c2)
		}
		c.SecretNames()
	})
}

// normal makes empty collections nil, which JSON does not tell apart.
func normal(c Config) Config {
	for i := range c.Servers {
		s := &c.Servers[i]
		if len(s.Args) == 0 {
			s.Args = nil
		}
		if len(s.Env) == 0 {
			s.Env = nil
		}
		if len(s.Headers) == 0 {
			s.Headers = nil
		}
		if len(s.ReadOnly) == 0 {
			s.ReadOnly = nil
		}
		if len(s.AllowExec) == 0 {
			s.AllowExec = nil
		}
	}
	return c
}

// TestServerRulesMatchOnlyTheirServer: a rule mcp__X__* for one server
// never names a tool of another, whatever the servers and tools are called.
func TestServerRulesMatchOnlyTheirServer(t *testing.T) {
	servers := []string{"a", "a_", "a-", "_a", "a_b", "a-b", "ab", "b"}
	tools := []string{"b", "_b", "__b", "b_", "a__b", "x", "_", "-", "b.c"}
	var valid []string
	for _, s := range servers {
		if _, err := Parse([]byte(`{"mcpServers":{"`+s+`":{"command":"x"}}}`), false); err == nil {
			valid = append(valid, s)
		}
	}
	for _, x := range valid {
		p := bulwark.Policy{Default: bulwark.Allow, Rules: []bulwark.Rule{{Tool: "mcp__" + x + "__*", Decision: bulwark.Deny}}}
		for _, y := range valid {
			for _, tl := range tools {
				name := ToolName(y, sanitize(tl))
				denied := p.Decide(bulwark.Call{Tool: name}).Decision == bulwark.Deny
				if denied != (x == y) {
					t.Errorf("rule mcp__%s__* on %s (server %q, tool %q): denied %v", x, name, y, tl, denied)
				}
			}
		}
	}
}
