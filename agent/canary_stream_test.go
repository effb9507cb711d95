package agent

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/llm/openai"
)

// streamArgs sends args as an OpenAI stream sends a tool call's
// arguments: in pieces cut at cuts, each a JSON string in a chunk of its
// own, written by quote; and returns the arguments the Accumulator
// assembles.
func streamArgs(t *testing.T, args string, cuts []int, quote func(string) string) string {
	t.Helper()
	var a openai.Accumulator
	prev := 0
	for i, cut := range append(cuts, len(args)) {
		piece := args[prev:cut]
		prev = cut
		head := ""
		if i == 0 {
			head = `"id":"call_1","type":"function",`
		}
		name := ""
		if i == 0 {
			name = `"name":"write_file",`
		}
		chunk := `{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,` + head + `"function":{` + name + `"arguments":` + quote(piece) + `}}]}}]}`
		if _, err := a.Add([]byte(chunk)); err != nil {
			t.Fatalf("chunk %s: %v", chunk, err)
		}
	}
	calls := a.Response().Message.ToolCalls
	if len(calls) != 1 {
		t.Fatalf("%d calls from the stream of %q", len(calls), args)
	}
	return string(calls[0].Arguments)
}

// TestCanarySplitAcrossStreamChunks: tool arguments carrying the canary
// (plain, in another case, hex, base64, URL-encoded, JSON \u escapes in
// the arguments, split between path and content) are streamed cut at
// every place, each piece escaped as a server may (plainly, every
// character as \u, "/" as \/), and the assembled arguments are the ones
// sent and caught by the canary check, as by the check before its
// rewrites (oldHasCanary).
func TestCanarySplitAcrossStreamChunks(t *testing.T) {
	r := &run{}
	r.taint.canary = guard.NewCanary()
	token := r.taint.canary.String()
	percentAll := func(s string) string {
		var b strings.Builder
		for i := range len(s) {
			fmt.Fprintf(&b, "%%%02X", s[i])
		}
		return b.String()
	}
	h := len(token) / 2
	content := map[string]string{
		"plain":       token,
		"lower":       strings.ToLower(token),
		"hex":         hex.EncodeToString([]byte(token)),
		"base64":      base64.StdEncoding.EncodeToString([]byte(token)),
		"url":         url.QueryEscape("x=" + token),
		"percent all": percentAll(token),
		"json \\u":    jsonEscapeAll(token),
	}
	var argsList []string
	for name, c := range content {
		q, _ := json.Marshal(c)
		if name == "json \\u" {
			q = []byte(c)
		}
		argsList = append(argsList, `{"path":"notes/leak.txt","content":`+string(q)+`}`)
	}
	argsList = append(argsList, fmt.Sprintf(`{"path":%q,"content":%q}`, token[:h], token[h:]),
		fmt.Sprintf(`{"path":"a/b\\c\"d\u00e9","content":"é\t%s ü"}`, token))
	quotes := map[string]func(string) string{
		"plain": func(s string) string { q, _ := json.Marshal(s); return string(q) },
		"\\u":   jsonEscapeAll,
		"\\/":   func(s string) string { q, _ := json.Marshal(s); return strings.ReplaceAll(string(q), "/", `\/`) },
	}
	for _, args := range argsList {
		if !json.Valid([]byte(args)) {
			t.Fatalf("invalid test arguments %s", args)
		}
		if !r.oldHasCanary([]byte(args), []byte(args)) || !r.hasCanary([]byte(args), []byte(args)) {
			t.Errorf("%s: not caught whole (old %v)", args, r.oldHasCanary([]byte(args), []byte(args)))
			continue
		}
		for qname, quote := range quotes {
			for cut := 1; cut < len(args); cut++ {
				if !utf8.RuneStart(args[cut]) {
					continue // a server sends whole characters
				}
				cuts := []int{cut}
				if c2 := cut + (len(args)-cut)/2; c2 > cut && utf8.RuneStart(args[c2]) {
					cuts = append(cuts, c2)
				}
				got := streamArgs(t, args, cuts, quote)
				if got != args {
					t.Fatalf("%s cut at %v, quoted %s: the stream assembled %q", args, cuts, qname, got)
				}
				if !r.hasCanary([]byte(got), []byte(got)) {
					t.Fatalf("%s cut at %v, quoted %s: the canary was not caught", args, cuts, qname)
				}
			}
		}
	}
}
