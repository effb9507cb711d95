package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// jsonView prints one JSON object per event and line. Streamed pieces of
// the model's text and of a command's output are left out: the whole
// text follows as model_text, the whole output as tool_result.
func jsonView(w io.Writer) agent.Sink {
	enc := json.NewEncoder(w)
	return func(e bulwark.Event) {
		if e.Type.Live() {
			return
		}
		enc.Encode(e)
	}
}

// termView prints events for a person watching a terminal: the model's text
// as it streams, each tool call with its arguments, a short view of each
// result, and the final answer. Each thing is said once: a refused call
// shows its verdict, not also the model's copy of it, and a failure is not
// repeated by the summary. The untrusted markers the model sees are shown
// as a small tag.
type termView struct {
	w        io.Writer
	midLine  bool // the model's streamed text left the cursor mid-line
	streamed bool // this turn's text was already printed as it streamed

	taskID    string // for the hints that name it
	full      bool   // show whole results and arguments (tasks logs --full)
	fromStore bool   // replaying stored events: show questions and answers too

	// denyWhy, set by the approver before it refuses, says why (": no
	// person to ask", " by --approve deny"); empty: the person said no.
	denyWhy string
	// denied holds the calls whose refusal was shown: their results, the
	// model's copy of the verdict, are not shown again.
	denied    map[string]bool
	lastError string   // the last failure shown, not repeated by the summary
	warnings  []string // shown again in the final summary

	// streamedOut holds the calls whose output was shown as it came:
	// their results show the outcome without the output again.
	streamedOut map[string]bool
	// asked is set from a question until the answer that follows it.
	asked bool
}

func newTermView(w io.Writer) *termView {
	return &termView{w: w, denied: map[string]bool{}, streamedOut: map[string]bool{}}
}

// warn records a warning for the final summary.
func (v *termView) warn(msg string) { v.warnings = append(v.warnings, msg) }

// Shown sizes of the readable view.
const (
	argsShown   = 300 // characters of a tool call's arguments
	resultLines = 6   // lines of a tool result
	lineShown   = 200 // characters of one result line
)

func (v *termView) show(e bulwark.Event) {
	e.Text = visible(e.Text)
	e.Args = []byte(printable(string(e.Args)))
	switch e.Type {
	case bulwark.EventTaskStarted:
		if e.Text != "" { // a continued turn's starts without: its message was shown
			fmt.Fprintf(v.w, "» %s\n", oneLine(e.Text, 500))
		}
	case bulwark.EventModelDelta:
		io.WriteString(v.w, e.Text)
		v.midLine = !strings.HasSuffix(e.Text, "\n")
		v.streamed = true
	case bulwark.EventToolOutput:
		v.liveOutput(e)
	case bulwark.EventModelText:
		switch {
		case !v.streamed:
			fmt.Fprintln(v.w, e.Text)
		case e.Text == agent.WithheldText:
			// Its start streamed before the check found the token.
			v.endLine()
			fmt.Fprintln(v.w, "[withheld: the rest of this reply carried the task's confidential canary token]")
		}
		v.endLine()
		v.streamed = false
	case bulwark.EventToolCall:
		v.endLine()
		if e.Tool == "finish" && !v.full {
			// The answer is shown once, under the summary that follows
			// (a refused finish says why in its result).
			fmt.Fprintf(v.w, "→ finish\n")
			break
		}
		fmt.Fprintf(v.w, "→ %s%s\n", e.Tool, v.argsPreview(e.Args))
	case bulwark.EventToolResult:
		if e.Tool == "finish" || v.denied[e.CallID] {
			return // the answer follows with task_finished; the verdict was shown
		}
		v.endLine()
		mark := "✓"
		if e.IsError {
			mark = "✗"
		}
		text := e.Text
		if v.streamedOut[e.CallID] && !v.full {
			text = withoutOutput(text)
		}
		fmt.Fprintf(v.w, "  %s %s\n", mark, v.result(text))
	case bulwark.EventAskUser:
		v.asked = true
		if v.fromStore {
			fmt.Fprintf(v.w, "? %s\n", e.Text)
		}
	case bulwark.EventUserMessage:
		// Live, the answer to a question was typed here: not shown
		// again; a message sent from elsewhere is.
		if v.fromStore || !v.asked {
			v.endLine()
			fmt.Fprintf(v.w, "» %s\n", oneLine(e.Text, 500)) // as run shows a turn's message
		}
		v.asked = false
	case bulwark.EventApproval:
		v.endLine()
		v.approval(e)
	case bulwark.EventNotice:
		v.endLine()
		fmt.Fprintf(v.w, "! %s\n", e.Text)
	case bulwark.EventCompacted:
		v.endLine()
		fmt.Fprintf(v.w, "⇣ %s\n", oneLine(e.Text, lineShown))
	case bulwark.EventMCPLog:
		// A server's own words: one line each, after its name.
		v.endLine()
		fmt.Fprintf(v.w, "  ◦ %s: %s\n", oneLine(visible(e.Tool), 40), oneLine(e.Text, lineShown))
	case bulwark.EventToolProgress:
		v.endLine()
		fmt.Fprintf(v.w, "  … %s %s\n", oneLine(visible(e.Tool), 80), oneLine(e.Text, lineShown))
	case bulwark.EventError:
		v.endLine()
		fmt.Fprintf(v.w, "✗ %s\n", e.Text)
		v.lastError = e.Text
	case bulwark.EventTaskFinished:
		v.endLine()
		if e.Reason.Success() {
			fmt.Fprintf(v.w, "\n✔ done\n%s\n", e.Text)
		} else if e.Text == v.lastError || e.Text == "" {
			fmt.Fprintf(v.w, "\n✗ stopped (%s)\n", e.Reason)
		} else {
			fmt.Fprintf(v.w, "\n✗ stopped (%s): %s\n", e.Reason, e.Text)
		}
		for _, w := range v.warnings {
			fmt.Fprintf(v.w, "⚠ %s\n", w)
		}
	default:
		if e.Text != "" {
			fmt.Fprintf(v.w, "· %s\n", oneLine(e.Text, lineShown))
		}
	}
}

// liveOutput shows a piece of a running command's output as it comes,
// each line marked as output of the call above.
func (v *termView) liveOutput(e bulwark.Event) {
	// Output cut short live is shown with the result as usual.
	v.streamedOut[e.CallID] = !strings.Contains(e.Text, "[live output cut here")
	for _, line := range strings.SplitAfter(e.Text, "\n") {
		if line == "" {
			continue
		}
		if !v.midLine {
			io.WriteString(v.w, "  │ ")
		}
		io.WriteString(v.w, line)
		v.midLine = !strings.HasSuffix(line, "\n")
	}
}

// withoutOutput is a command's result without its output (shown as it
// came): the outcome lines before "--- stdout ---" or "--- stderr ---".
func withoutOutput(s string) string {
	for _, sep := range []string{"\n--- stdout ---\n", "\n--- stderr ---\n"} {
		if i := strings.Index(s, sep); i >= 0 {
			return s[:i] + "\n(output shown above)"
		}
	}
	return s
}

// approval shows an approval as a verdict: who or what decided, and why.
func (v *termView) approval(e bulwark.Event) {
	switch {
	case e.Decision == "":
		if v.fromStore {
			fmt.Fprintf(v.w, "? %s\n", oneLine(e.Text, lineShown))
		}
		// else terminalApprove prints the question when it asks.
	case e.Decision == string(bulwark.Allow):
		fmt.Fprintf(v.w, "  ✓ allowed: %s\n", oneLine(e.Text, lineShown))
	case e.DecidedBy == bulwark.DecidedByPolicy:
		v.denied[e.CallID] = true
		rule := strings.TrimPrefix(e.Text, "refused by the policy rule ")
		fmt.Fprintf(v.w, "  ✗ %s denied by policy rule %s\n", e.Tool, oneLine(rule, lineShown))
	default:
		v.denied[e.CallID] = true
		why := v.denyWhy
		switch {
		case why != "":
		case v.fromStore:
			why = " by a person"
		default:
			why = " by you"
		}
		v.denyWhy = ""
		fmt.Fprintf(v.w, "  ✗ %s denied%s\n", e.Tool, why)
	}
}

func (v *termView) endLine() {
	if v.midLine {
		fmt.Fprintln(v.w)
		v.midLine = false
	}
}

// argsPreview shows a call's arguments: short ones on the call's line
// (name=value), text of several lines below it with its indentation
// kept. It is cut to argsShown characters and resultLines lines per value
// unless the view is full.
func (v *termView) argsPreview(raw []byte) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var inline, blocks []string
	ok := func() bool {
		if t, err := dec.Token(); err != nil || t != json.Delim('{') {
			return false
		}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return false
			}
			var val json.RawMessage
			if err := dec.Decode(&val); err != nil {
				return false
			}
			var str string
			if json.Unmarshal(val, &str) == nil && strings.Contains(str, "\n") {
				blocks = append(blocks, fmt.Sprintf("%v:\n      %s", k, v.lines(str, "      ")))
				continue
			}
			inline = append(inline, fmt.Sprintf("%v=%s", k, string(val)))
		}
		return true
	}()
	if !ok {
		return " " + v.cutArgs(oneLine(string(raw), 1<<20))
	}
	out := ""
	if len(inline) > 0 {
		out = " " + v.cutArgs(strings.Join(inline, " "))
	}
	for _, b := range blocks {
		out += "\n    " + b
	}
	return out
}

func (v *termView) cutArgs(s string) string {
	if v.full {
		return s
	}
	return cut(s, argsShown)
}

// result shows the first lines of a result, indented under its call, and
// the note of an output cut for the model, which says where the whole
// output was saved.
func (v *termView) result(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "(no output)"
	}
	note := ""
	if i := strings.LastIndex(s, "\n[output cut: "); i >= 0 && strings.HasSuffix(s, "]") {
		s, note = s[:i], s[i+1:]
	}
	tag := "" // an untrusted tag on its own line does not count as a line shown
	if i := strings.IndexByte(s, '\n'); i > 0 && strings.HasPrefix(s, "[untrusted") && strings.HasSuffix(s[:i], "]") {
		tag, s = s[:i]+"\n    ", s[i+1:]
	}
	out := tag + v.lines(s, "    ")
	if note != "" {
		out += "\n    " + note
	}
	return out
}

// lines shows the first lines of s, each cut to lineShown characters and
// the following ones indented by indent, with a hint of how to see the
// rest; all of s when the view is full.
func (v *termView) lines(s, indent string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if v.full {
		return indentLines(lines, indent)
	}
	more := 0
	if len(lines) > resultLines {
		more = len(lines) - resultLines
		lines = lines[:resultLines]
	}
	long := false
	for i, l := range lines {
		if c := cut(l, lineShown); c != l {
			lines[i], long = c, true
		}
	}
	out := indentLines(lines, indent)
	switch {
	case more == 1:
		out += fmt.Sprintf("\n%s… 1 more line (%s)", indent, v.fullHint())
	case more > 1:
		out += fmt.Sprintf("\n%s… %d more lines (%s)", indent, more, v.fullHint())
	case long:
		out += fmt.Sprintf("\n%s… lines cut (%s)", indent, v.fullHint())
	}
	return out
}

// indentLines joins lines, each after the first indented (empty ones left
// empty).
func indentLines(lines []string, indent string) string {
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteString("\n")
			if l != "" {
				b.WriteString(indent)
			}
		}
		b.WriteString(l)
	}
	return b.String()
}

func (v *termView) fullHint() string {
	id := v.taskID
	if id == "" {
		id = "ID"
	}
	return "all of it: bulwark tasks logs --full " + id
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

// untrustedOpen and untrustedClose are the markers guard.Mark puts around
// text from outside, for the model. Text inside cannot hold a real marker
// (Mark neutralizes look-alikes), so these match only Mark's own.
var (
	untrustedOpen  = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp { return regexp.MustCompile(`<<untrusted source="([^"\n]*)" id=[0-9a-f]{12}>>`) }}
	untrustedClose = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp { return regexp.MustCompile(`\n?<</untrusted id=[0-9a-f]{12}>>`) }}
)

// visible is text as a person is shown it: no control characters, and the
// untrusted markers replaced by a small tag naming the source.
func visible(s string) string {
	s = printable(s)
	if !strings.Contains(s, "<<untrusted") && !strings.Contains(s, "<</untrusted") {
		return s
	}
	s = untrustedOpen.Get().ReplaceAllStringFunc(s, func(m string) string {
		src := untrustedOpen.Get().FindStringSubmatch(m)[1]
		if src == "" {
			return "[untrusted]"
		}
		return "[untrusted: " + src + "]"
	})
	return untrustedClose.Get().ReplaceAllString(s, "")
}

// printable replaces the control characters of text from a model or a tool
// with visible escapes, so that no escape sequence reaches the terminal
// (a model could otherwise rewrite the screen, hide lines or set the title),
// and the invisible format characters (bulwark.IsInvisibleFormat) too, so
// that a name or title cannot be shown as another ("report\u202efdp.exe"
// for "reportexe.pdf"). Newlines and tabs are kept.
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
		switch {
		case r < 0x100 && isControl(r):
			fmt.Fprintf(&b, "\\x%02x", r)
		case r <= 0xffff && isControl(r):
			fmt.Fprintf(&b, "\\u%04x", r)
		case isControl(r):
			fmt.Fprintf(&b, "\\U%08x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// printableName is a name (a file's path) as printable shows text, its
// line breaks and tabs spelled out too: one name, one line.
func printableName(s string) string {
	return strings.NewReplacer("\n", `\n`, "\t", `\t`).Replace(printable(s))
}

func isControl(r rune) bool {
	return r != '\n' && r != '\t' && (r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || bulwark.IsInvisibleFormat(r))
}
