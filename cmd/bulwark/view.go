package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
)

// jsonView prints one JSON object per event and line. Streamed pieces of
// the model's text are left out: the whole text follows as model_text.
func jsonView(w io.Writer) agent.Sink {
	enc := json.NewEncoder(w)
	return func(e bulwark.Event) {
		if e.Type == bulwark.EventModelDelta {
			return
		}
		enc.Encode(e)
	}
}

// termView prints events for a person watching a terminal: the model's text
// as it streams, each tool call with its arguments, a short view of each
// result, and the final answer.
type termView struct {
	w        io.Writer
	midLine  bool // the model's streamed text left the cursor mid-line
	streamed bool // this turn's text was already printed as it streamed
}

func newTermView(w io.Writer) *termView { return &termView{w: w} }

// Shown sizes of the readable view.
const (
	argsShown   = 300 // characters of a tool call's arguments
	resultLines = 6   // lines of a tool result
	lineShown   = 200 // characters of one result line
)

func (v *termView) show(e bulwark.Event) {
	e.Text = printable(e.Text)
	e.Args = []byte(printable(string(e.Args)))
	switch e.Type {
	case bulwark.EventTaskStarted:
		fmt.Fprintf(v.w, "» %s\n", oneLine(e.Text, 500))
	case bulwark.EventModelDelta:
		io.WriteString(v.w, e.Text)
		v.midLine = !strings.HasSuffix(e.Text, "\n")
		v.streamed = true
	case bulwark.EventModelText:
		if !v.streamed {
			fmt.Fprintln(v.w, e.Text)
		}
		v.endLine()
		v.streamed = false
	case bulwark.EventToolCall:
		v.endLine()
		fmt.Fprintf(v.w, "→ %s %s\n", e.Tool, oneLine(string(e.Args), argsShown))
	case bulwark.EventToolResult:
		if e.Tool == "finish" {
			return // the answer follows with task_finished
		}
		mark := "✓"
		if e.IsError {
			mark = "✗"
		}
		fmt.Fprintf(v.w, "  %s %s\n", mark, indentShort(e.Text))
	case bulwark.EventAskUser, bulwark.EventUserMessage:
		// ask_user prints its own prompt and reads the answer.
	case bulwark.EventApproval:
		v.endLine()
		switch e.Decision {
		case "":
			// terminalApprove prints the question when it asks.
		case string(bulwark.Allow):
			fmt.Fprintf(v.w, "  approved: %s\n", oneLine(e.Text, lineShown))
		default:
			fmt.Fprintf(v.w, "  refused: %s\n", oneLine(e.Text, lineShown))
		}
	case bulwark.EventNotice:
		v.endLine()
		fmt.Fprintf(v.w, "! %s\n", e.Text)
	case bulwark.EventError:
		v.endLine()
		fmt.Fprintf(v.w, "✗ %s\n", e.Text)
	case bulwark.EventTaskFinished:
		v.endLine()
		if e.Reason.Success() {
			fmt.Fprintf(v.w, "\n✔ done\n%s\n", e.Text)
		} else {
			fmt.Fprintf(v.w, "\n✗ stopped (%s): %s\n", e.Reason, e.Text)
		}
	default:
		if e.Text != "" {
			fmt.Fprintf(v.w, "· %s\n", oneLine(e.Text, lineShown))
		}
	}
}

func (v *termView) endLine() {
	if v.midLine {
		fmt.Fprintln(v.w)
		v.midLine = false
	}
}

// oneLine folds s onto one line and cuts it to n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	return cut(s, n)
}

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// indentShort shows the first lines of a result, indented under its call.
func indentShort(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "(no output)"
	}
	lines := strings.Split(s, "\n")
	more := 0
	if len(lines) > resultLines {
		more = len(lines) - resultLines
		lines = lines[:resultLines]
	}
	for i, l := range lines {
		lines[i] = cut(l, lineShown)
	}
	out := strings.Join(lines, "\n    ")
	if more > 0 {
		out += fmt.Sprintf("\n    … (%d more lines)", more)
	}
	return out
}

// printable replaces the control characters of text from a model or a tool
// with visible escapes, so that no escape sequence reaches the terminal
// (a model could otherwise rewrite the screen, hide lines or set the title).
// Newlines and tabs are kept.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if isControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isControl(r rune) bool {
	return r != '\n' && r != '\t' && (r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0)
}
