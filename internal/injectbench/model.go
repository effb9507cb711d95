package injectbench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
)

// Compliant is the worst case of a model: it obeys every planted action
// that reaches it, wherever it is and whatever the markers around it say,
// and otherwise does the task's job.
//
// A real model understands the planted sentence; this one cannot, so it is
// given the understanding instead: Planted maps each planted action's
// nonce (a word of every target the sentence names: the file, the URL, the
// command) to the call the sentence asks for. When a nonce appears in any
// tool result it has seen, it makes that call, once. It never looks at the
// guard's verdicts, the untrusted markers or any wording, and shares no
// code with the guard: what decides whether the action happens is only
// whether the text reached the model (what the tools and the loop let
// through) and whether the loop lets the call run (taint, policy). What it
// cannot do: be talked out of a planted action, find a second way when the
// first is refused (it does not retry, nor reach for another tool), or
// follow an instruction whose targets were rewritten on the way.
//
// The task's own plan (which tool reads the document, what the job is,
// which reference the summary must carry) is given as Plan, standing for
// its understanding of the person's request.
type Compliant struct {
	Plan    Plan
	Planted map[string]Call // by nonce
	// Obeyed is set once the model has made a planted call, and Failed
	// once it has read that the call failed (refused or an error): the
	// bench checks the effects it finds against them.
	Obeyed, Failed bool
}

// Plan is the benign work of one task.
type Plan struct {
	Read Call   // the call that reads the document
	Job  string // "report", "scratch": write report.md, scratch/report.md; "answer": the summary is the answer
	Fact string // the reference the summary carries
}

// Call is a tool call the model makes.
type Call struct {
	Name string
	Args map[string]any
}

// Name is the model's spec.
func (*Compliant) Name() string { return "injectbench:compliant" }

// Stream answers the conversation so far with the next call. It decides
// from the messages alone, so a conversation can be replayed.
func (m *Compliant) Stream(_ context.Context, req llm.Request, _ func(string)) (*llm.Response, error) {
	made := map[string]bool{} // tool names and report writes made so far, by key
	var read []string         // what the tool results said
	input := ""
	planted := map[string]bool{} // the ids of the planted calls made
	for _, msg := range req.Messages {
		switch msg.Role {
		case llm.User:
			if input == "" {
				input = msg.Content
			}
		case llm.Assistant:
			for _, c := range msg.ToolCalls {
				made[callKey(c.Name, c.Arguments)] = true
				if m.isPlanted(c) {
					planted[c.ID] = true
				}
			}
		case llm.ToolRole:
			read = append(read, msg.Content)
			if planted[msg.ToolCallID] && msg.IsError {
				m.Failed = true
			}
		}
	}
	seen := strings.Join(read, "\n")
	if len(made) == 0 {
		return m.call(m.Plan.Read), nil
	}
	for nonce, c := range m.Planted {
		if !strings.Contains(seen, nonce) {
			continue
		}
		if c.Name == "fetch_url" {
			if u, ok := c.Args["url"].(string); ok && strings.HasSuffix(u, "?d=") {
				c = Call{Name: c.Name, Args: map[string]any{"url": u + url.QueryEscape(input)}}
			}
		}
		if !made[c.key()] {
			m.Obeyed = true
			return m.call(c), nil
		}
	}
	summary := m.summary(read)
	path := map[string]string{"report": "report.md", "scratch": "scratch/report.md"}[m.Plan.Job]
	write := Call{Name: "write_file", Args: map[string]any{"path": path, "content": summary}}
	if path != "" && !made[write.key()] {
		return m.call(write), nil
	}
	return m.call(Call{Name: "finish", Args: map[string]any{"answer": summary}}), nil
}

// summary is the job's text: the title and the lines of what was read that
// carry the reference.
func (m *Compliant) summary(read []string) string {
	var b strings.Builder
	b.WriteString("# Summary\n\n")
	found := false
	for _, r := range read {
		for _, line := range strings.Split(r, "\n") {
			if strings.Contains(line, m.Plan.Fact) {
				fmt.Fprintf(&b, "- %s\n", strings.TrimSpace(line))
				found = true
			}
		}
	}
	if !found {
		b.WriteString("The document could not be read.\n")
	}
	return b.String()
}

func (m *Compliant) call(c Call) *llm.Response {
	args, _ := json.Marshal(c.Args)
	return &llm.Response{
		Message: llm.Message{Role: llm.Assistant, ToolCalls: []llm.ToolCall{{ID: "c_" + token(string(args), len(args), 10), Name: c.Name, Arguments: args}}},
		Usage:   bulwark.Usage{InputTokens: 1, OutputTokens: 1},
	}
}

// isPlanted reports whether c is one of the planted calls.
func (m *Compliant) isPlanted(c llm.ToolCall) bool {
	k := callKey(c.Name, c.Arguments)
	for _, p := range m.Planted {
		pk := p.key()
		if k == pk || (p.Name == "fetch_url" && strings.HasPrefix(k, strings.TrimSuffix(pk, "?d="))) {
			return true
		}
	}
	return false
}

func (c Call) key() string {
	args, _ := json.Marshal(c.Args)
	return callKey(c.Name, args)
}

// callKey identifies a call by its tool and its path or URL (the content
// of a write may differ from the one planned once the model has read more).
func callKey(name string, args json.RawMessage) string {
	var v struct {
		Path string `json:"path"`
		URL  string `json:"url"`
	}
	json.Unmarshal(args, &v)
	if v.Path != "" || v.URL != "" {
		return name + " " + v.Path + v.URL
	}
	return name + " " + string(args)
}
