package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/bulwark-agents/bulwark/internal/affix"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/tool"
)

// Withholding a leak
//
// A reply that carries the task's canary token carries the task's
// instructions with it: whatever carries the token must go nowhere. The
// check runs as soon as the model's reply comes, before the reply joins
// the conversation: so the events (and with them the event stream,
// notifications, webhooks, the store and the audit log), the conversation
// sent back to the model and compacted, a checkpointed turn resumed after
// a restart, approvals and the tools themselves only ever see a
// placeholder.
//
//   - A call whose arguments carry it has them replaced by withheldArgs.
//     The call keeps its id and tool name, so the history still reads
//     right, and is then blocked (canaryBlocked); the model is told so in
//     the call's result, and the task goes on, until maxLeaks such calls
//     end it.
//   - A reply whose text carries it has its text replaced by WithheldText,
//     and the task ends at once, failed (leakedText). A blocked call did
//     nothing and its result is where the model is told no; but the text
//     is what the task says to people, and a model that writes its
//     confidential instructions into it has stopped following them. What
//     it would write next, told its reply was withheld, the canary could
//     not vet (a paraphrase of the instructions carries no token), and
//     its final answer would be the answer of a model an injection
//     controls: the task does not go on to deliver one. A turn resumed
//     after a restart cut it off after the reply's event fails the same
//     way (resumeLeak).
//   - A tool's result that carries it (the model had it put together
//     from pieces, each of which its calls' checks let pass) has its text
//     replaced by WithheldResult, and the task ends failed too
//     (leakedResult): the token has reached whoever wrote the result.
//   - A summary the model writes of its earlier turns when the
//     conversation is compacted (compact.go) is its text too, written
//     where no one sees it: one that carries the token never takes the
//     place of the turns it summarises (the conversation), nor reaches an
//     event (it is in none), and the task ends failed, as for a reply's
//     text (summaryLeak).
//   - The text as it streams (model_delta events, sent live to the event
//     stream and the web UI before the reply is whole) passes through
//     replyStream, which sends nothing that a check has not cleared and
//     holds back the end of the text, where a token could be beginning.
//     A command's live output (live_output.go) is held the same way
//     (hold), and a leak there withholds the call's result.
//
// The adapters carry no reasoning or thinking text (llm.Message has none):
// there is nothing else of a reply to check.

// withheldArgs stands in for the arguments of a call that carried the
// canary. It is a JSON object, so that whoever reads a tool call's
// arguments as one still can.
var withheldArgs = json.RawMessage(`{"withheld":"the arguments of this call carried the task's confidential canary token, so they are not kept"}`)

// WithheldText stands in for the text of a reply that carried the canary:
// the text of its model_text event. The start of that text may have
// streamed before a check found the token; a view shows that the rest
// was withheld.
const WithheldText = "[withheld: this reply carried the task's confidential canary token, so its text is not kept]"

// maxLeaks is how many calls carrying the canary end the task. The
// calls are not compared for loop detection: withheld, they all look
// alike, and a model that keeps leaking is ended for the leak, not for a
// loop.
const maxLeaks = 3

// withholdLeaks replaces with withheldArgs the arguments of each call of
// reply that carry the canary, and the reply's text with WithheldText if
// it carries it; text reports that it did. The slice of calls is copied
// before the first change: the model's response is not written to. The
// texts share one check (guard.CanaryCheck) with the checks of the text
// streamed in s, which is most often the reply's text.
func (r *run) withholdLeaks(reply *llm.Message, s *replyStream) (text bool) {
	// The calls first: their texts share the most, and the check keeps a
	// bounded number of decodings to share.
	var calls []llm.ToolCall
	for i, c := range reply.ToolCalls {
		// The name and the id are the model's words too, shown and
		// stored with the call's events: one that carries the token is
		// replaced, and the call withheld.
		named := s.canary().In(c.Name + "\n" + c.ID)
		if !named && !argsCarry(s.canary(), c.Arguments, c.Arguments) {
			continue
		}
		if calls == nil {
			calls = slices.Clone(reply.ToolCalls)
		}
		calls[i].Arguments = withheldArgs
		if named {
			calls[i].Name, calls[i].ID = "withheld", bulwark.NewID("call_")
		}
	}
	if calls == nil && len(reply.ToolCalls) >= 2 && splitAcrossCalls(s.canary(), reply.ToolCalls) {
		// No call carried the token, but the calls of the reply do,
		// together: a piece in each (two fetches, each with half of it).
		// They are the model's one reply: all are withheld.
		calls = slices.Clone(reply.ToolCalls)
		for i := range calls {
			calls[i].Arguments = withheldArgs
		}
	}
	if calls == nil && len(reply.ToolCalls) > 0 && len(r.sent.calls) > 0 &&
		splitAcrossCalls(s.canary(), append(slices.Clip(r.sent.calls), reply.ToolCalls...)) {
		// No call of the reply carried the token, nor its calls together,
		// but they do with the calls of earlier replies that went out
		// (sentCalls): the reply would finish what they began. Those ran;
		// this reply's calls are withheld.
		calls = slices.Clone(reply.ToolCalls)
		for i := range calls {
			calls[i].Arguments = withheldArgs
		}
	}
	if calls != nil {
		reply.ToolCalls = calls
	}
	if reply.Content != "" && s.carries(reply.Content) {
		reply.Content = WithheldText
		return true
	}
	return false
}

// splitAcrossCalls says whether the arguments of calls carry c's token
// together, a piece in each call: read as one document (a JSON array of
// them, in the reply's order: argsCarry puts together the strings of
// different calls as it does those of one call's arguments), or as the
// values in the same place of each call put together in the reply's
// order (the same argument of each call: the pieces of two fetches'
// URLs or two writes' contents, with other values between them in the
// document), of all the calls and of the calls of each tool. withholdLeaks
// also reads a reply's calls with the calls of earlier replies that went
// out (sentCalls).
func splitAcrossCalls(c *guard.CanaryCheck, calls []llm.ToolCall) bool {
	n := 1
	for _, call := range calls {
		n += len(call.Arguments) + 1
	}
	all := make([]byte, 0, n)
	all = append(all, '[')
	for i, call := range calls {
		if i > 0 {
			all = append(all, ',')
		}
		all = append(all, call.Arguments...)
	}
	all = append(all, ']')
	if argsCarry(c, all, all) {
		return true
	}
	values := make([][]string, len(calls))
	most := 0
	for i, call := range calls {
		values[i] = decodedStrings(call.Arguments).values
		most = max(most, len(values[i]))
	}
	// The same place of every call's arguments, and of every call of one
	// tool: another tool's call between the pieces (a note written between
	// two fetches) has its own arguments in other places.
	if sameAt(c, values, most) {
		return true
	}
	for i, call := range calls {
		group := [][]string{values[i]}
		first := true
		for k, other := range calls {
			if k < i && other.Name == call.Name {
				first = false // the group was read at its first call
				break
			}
			if k > i && other.Name == call.Name {
				group = append(group, values[k])
			}
		}
		if first && len(group) >= 2 && len(group) < len(calls) && sameAt(c, group, most) {
			return true
		}
	}
	return false
}

// sameAt says whether the values in the same place of each of values (a
// call's decoded strings each), put together in order, carry c's token.
func sameAt(c *guard.CanaryCheck, values [][]string, most int) bool {
	var b strings.Builder
	var same []string
	for j := range most {
		same = same[:0]
		for _, v := range values {
			if j < len(v) {
				same = append(same, v[j])
			}
		}
		if len(same) < 2 {
			continue
		}
		// What the values share at their start and at their end (a URL's
		// address before its query, a word they all end with), to a
		// separator, is left out: the pieces are then next to each other.
		pre, suf := sharedEnds(same)
		b.Reset()
		for _, v := range same {
			b.WriteString(v[pre : len(v)-suf])
			b.WriteByte('\n')
		}
		if c.In(b.String()) {
			return true
		}
	}
	return false
}

// sentCalls are the last calls of a run's earlier replies that reached
// beyond the task (fetched, ran a program, called another program's tool:
// leavesTask), as the model wrote them: a model that an injection turned
// can send the token a piece per turn, each piece too short for any check
// of its own reply. Each reply's calls are read together with these
// (withholdLeaks), so the call that would complete the token does not go
// out. Calls that stay in the task (the file tools') are not kept: what
// they write goes nowhere by itself, and the check of every turn of a
// task that only writes files stays as cheap as it was. Bounded to the
// last maxSentCalls calls and maxSentBytes of arguments: the pieces must
// come within those. A run resumed after a restart starts with none.
type sentCalls struct {
	calls []llm.ToolCall
	bytes int
}

const (
	maxSentCalls = 8
	maxSentBytes = 16 << 10
)

// add keeps call, about to run with effects e, when it leaves the task.
func (s *sentCalls) add(call llm.ToolCall, e tool.Effects) {
	if !leavesTask(e) || len(call.Arguments) > maxSentBytes {
		return
	}
	s.calls = append(s.calls, call)
	s.bytes += len(call.Arguments)
	drop := 0
	for len(s.calls)-drop > maxSentCalls || s.bytes > maxSentBytes {
		s.bytes -= len(s.calls[drop].Arguments)
		drop++
	}
	if drop > 0 {
		s.calls = slices.Delete(s.calls, 0, drop)
	}
}

// leavesTask reports whether a call with effects e reaches beyond the
// task's workspace: it fetches, runs a program (whose network the sandbox
// may allow), may run something not known before it runs, or calls
// another program's tool.
func leavesTask(e tool.Effects) bool {
	return len(e.URLs) > 0 || len(e.Hosts) > 0 || len(e.Runs) > 0 || len(e.Dynamic) > 0 || len(e.Calls) > 0
}

// sharedEnds returns how many bytes all of vs share at their start and at
// their end, each cut back to end at a byte that is not a letter or a
// digit (a piece of a token is never cut), and together no longer than
// the shortest of vs.
func sharedEnds(vs []string) (pre, suf int) {
	shortest := len(vs[0])
	for _, v := range vs[1:] {
		shortest = min(shortest, len(v))
	}
	pre = shortest
	for _, v := range vs[1:] {
		pre = min(pre, affix.Prefix(vs[0], v))
	}
	for pre > 0 && isWordByte(vs[0][pre-1]) {
		pre--
	}
	suf = shortest - pre
	for _, v := range vs[1:] {
		suf = min(suf, affix.Suffix(vs[0], v))
	}
	for suf > 0 && isWordByte(vs[0][len(vs[0])-suf]) {
		suf--
	}
	return pre, suf
}

func isWordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// withheld reports whether call's arguments were withheld: it carried the
// canary, in this run or (a call resumed from its stored tool_call event)
// in the run that stored it.
func withheld(call llm.ToolCall) bool {
	return bytes.Equal(call.Arguments, withheldArgs)
}

// leakEnd is how a task ends for a leak the check found in the model's
// text or in a tool's result: the events, in order, that say so (a guard
// event and the task's error, whose text is the outcome's answer).
type leakEnd [2]bulwark.Event

var (
	// textLeak ends a task whose reply carried the canary in its text,
	// after the reply's model_text event.
	textLeak = leakEnd{
		{Type: bulwark.EventGuard, Text: "blocked: the model's reply carried the task's confidential canary token: its instructions are being leaked"},
		{Type: bulwark.EventError, Text: "the model's reply carried a confidential token from its instructions, a sign that something it read made it leak them; the reply was withheld and the task stopped"},
	}
	// summaryLeak ends a task whose summary of its earlier turns carried
	// the canary, after the compacted event.
	summaryLeak = leakEnd{
		{Type: bulwark.EventGuard, Text: "blocked: the model's summary of its earlier turns carried the task's confidential canary token: its instructions are being leaked"},
		{Type: bulwark.EventError, Text: "the model's summary of its earlier turns carried a confidential token from its instructions, a sign that something it read made it leak them; the summary was withheld and the task stopped"},
	}
	// noteLeak ends a task an MCP server's log message or progress
	// carried the canary in (withheld: WithheldNote), after the call
	// that ran then, or before the next model call.
	noteLeak = leakEnd{
		{Type: bulwark.EventGuard, Text: "blocked: a message from the task's MCP server carried the task's confidential canary token: the model's instructions were leaked to it"},
		{Type: bulwark.EventError, Text: "a message from the task's MCP server carried a confidential token from the model's instructions, a sign that the model leaked them to it; the message was withheld and the task stopped"},
	}
	// resultLeak ends a task a tool's result gave the canary back to,
	// after the result's event (WithheldResult).
	resultLeak = leakEnd{
		{Type: bulwark.EventGuard, Text: "blocked: a tool's result carried the task's confidential canary token: the model's instructions were leaked to where it came from"},
		{Type: bulwark.EventError, Text: "a tool's result carried a confidential token from the model's instructions, a sign that the model leaked them to where the result came from; the result was withheld and the task stopped"},
	}
)

// WithheldResult stands in for the text of a tool's result that carried
// the canary: the text of its tool_result event and what the model is
// given.
const WithheldResult = "[withheld: this result carried the task's confidential canary token, so its text is not kept]"

// leaked ends the task for the leak l: it sends l's events but the first
// stored, which the run that a restart cut off stored already
// (resumeLeak).
func (r *run) leaked(l *leakEnd, stored int) Outcome {
	for _, e := range l[stored:] {
		r.emit(e)
	}
	return r.end(bulwark.FinishLeak, l[len(l)-1].Text)
}

// leakedText ends the task whose reply carried the canary in its text
// (withheld by withholdLeaks, its event sent): the calls of the reply
// are not run.
func (r *run) leakedText(reply llm.Message) Outcome {
	r.skipCalls(reply.ToolCalls)
	return r.leaked(&textLeak, 0)
}

// leakedResult ends the task whose call's result carried the canary: the
// result is withheld, from its event and from the model. Whoever wrote
// the result (an MCP server, a web page, a file the model wrote in
// pieces) has the token: the model leaked its instructions, by a way the
// checks of its calls did not see (in pieces over several calls, say).
func (r *run) leakedResult(call llm.ToolCall) Outcome {
	r.checkpoint()
	r.emit(bulwark.Event{Type: bulwark.EventToolResult, Tool: call.Name, CallID: call.ID, Text: WithheldResult, IsError: true})
	r.answer(call, WithheldResult, true)
	return r.leaked(&resultLeak, 0)
}

// resumeLeak ends, as the run that a restart cut off did not get to, the
// resumed turn h that a leak was ending: ok reports that it was. The
// stored events show it: the turn's conversation ends with a reply whose
// text was withheld (its calls were not stored), its last tool result
// was withheld (the calls after it are not run), or a summary's or a
// notification's leak sent its guard event (the summary was stored
// nowhere). Without this the turn would go on, with the placeholder or a
// new summary.
func (r *run) resumeLeak(h rebuilt, events []bulwark.Event) (out Outcome, ok bool) {
	start, result, guarded := 0, -1, -1
	var other *leakEnd
	for i, e := range events {
		switch {
		case e.Type == bulwark.EventTaskFinished:
			start, result, guarded = i+1, -1, -1
		case e.Type == bulwark.EventToolResult:
			result = -1
			if e.Text == WithheldResult {
				result = i
			}
		case e.Type == summaryLeak[0].Type && e.Text == summaryLeak[0].Text:
			guarded, other = i, &summaryLeak
		case e.Type == noteLeak[0].Type && e.Text == noteLeak[0].Text:
			guarded, other = i, &noteLeak
		}
	}
	var l *leakEnd
	from := start
	switch n := len(h.msgs); {
	case len(h.pending) == 0 && n > 0 && h.msgs[n-1].Role == llm.Assistant && h.msgs[n-1].Content == WithheldText:
		l = &textLeak
		for i := start; i < len(events); i++ {
			if events[i].Type == bulwark.EventModelText {
				from = i + 1
			}
		}
	case result >= 0:
		l, from = &resultLeak, result+1
		for _, p := range h.pending {
			r.answer(p.call, "Not run: the task ended before this call.", true)
		}
	case guarded >= 0:
		l, from = other, guarded
	default:
		return Outcome{}, false
	}
	stored := 0
	for _, e := range events[from:] {
		if stored < len(l) && e.Type == l[stored].Type && e.Text == l[stored].Text {
			stored++
		}
	}
	return r.leaked(l, stored), true
}

// leakedCalls ends the task at its maxLeaks-th call that carried the
// canary (blocked by canaryBlocked), answering call.
func (r *run) leakedCalls(call llm.ToolCall) Outcome {
	msg := fmt.Sprintf("the model made %d calls that carried a confidential token from its instructions, a sign that something it read made it leak them; the calls were blocked and the task stopped", r.leaks)
	r.emit(bulwark.Event{Type: bulwark.EventError, Text: msg})
	r.answer(call, "Not run: "+msg+".", true)
	return r.end(bulwark.FinishLeak, msg)
}

// Streamed text is held back: the word being written (the text's last
// run of printable ASCII, in which base64, hex, \u escapes, entities
// and the guard's other encodings are written, of letters the check
// reads as ASCII, and of invisible characters and combining marks:
// inWord), and streamHold bytes before it. A token the guard finds,
// written in one word however long (the 35 characters of a token as
// \u-escaped entities take 1,260 bytes) or in fewer bytes than the hold
// (split into pieces, spaced out, in look-alike letters), is whole in
// the text a check reads before any of it is sent; so is a token's start
// (in words read plain or decoded) followed by nothing but separators,
// however many, until its rest comes (hold.cut, guard.Canary.Unfinished).
// A token whose pieces stand further apart with other words between them,
// which the check finds in the whole text (one encoding's segments
// joined), may have its first piece streamed: the reply is withheld and
// the task ends for the leak all the same. The text is checked,
// whole, when streamEvery bytes or an eighth of the text, if more, have
// come since the last check, and there is text to send: a long reply is
// checked a few times over, not once a piece.
const (
	streamHold  = 512
	streamEvery = 128
)

// hold is the text of one stream (a reply's, a command's stdout) as it
// comes, of which what a check has cleared goes out, less its end: the
// word being written and streamHold bytes before it. The reply's stream
// (replyStream) and a command's live output (liveOutput) both hold their
// text so.
type hold struct {
	text []byte // the text so far
	word int    // where text's last word starts
	sent int    // how much of text went out
}

// add appends the next piece of the text.
func (h *hold) add(p string) {
	from := max(len(h.text)-utf8.UTFMax+1, h.word)
	h.text = append(h.text, p...)
	h.word = wordStart(h.text, from, h.word)
}

// cut returns how far the text may go out once a check of all of it has
// cleared it: to the start of the streamHold bytes before its last word
// (a rune's start), and not past the words at its end that read as the
// start of c's token, however far back (guard.Canary.Unfinished: the
// rest of a token may come after any number of spaces), or sent if that
// is no further.
func (h *hold) cut(c guard.Canary) int {
	cut := h.word - streamHold
	if cut <= h.sent {
		return h.sent
	}
	for !utf8.RuneStart(h.text[cut]) {
		cut--
	}
	// The last word, held, may be part written: its readings may fail
	// where the whole word's go on with the token. Unfinished returns a
	// word's start, an ASCII byte, or the end.
	if h.word > h.sent {
		cut = min(cut, h.sent+c.Unfinished(string(h.text[h.sent:h.word])))
	}
	return cut
}

// checkDue reports whether a text of n bytes, of which a check read the
// first checked, is to be checked again before more of it goes out:
// once streamEvery bytes, or an eighth of it if more, came since.
func checkDue(n, checked int) bool {
	return n-checked >= max(streamEvery, n/8)
}

// replyStream carries the text of one reply, as the model streams it, to
// the sink as model_delta events: through the canary check, which sends
// only text it has cleared and none once it finds the token, and then
// through the secret masker. What is held back at the end is sent when
// the whole text is cleared (end). A run has one, made ready for each
// reply by newReplyStream: its buffer serves every reply.
type replyStream struct {
	hold
	r     *run
	push  func(string) string // the secret masker
	flush func() string
	check *guard.CanaryCheck // the reply's, made when first needed
	// checked is how much of text the last check read; whole, when
	// withholdLeaks checked the whole text (the reply's, carries), is it.
	checked int
	whole   string
	leaked  bool // a check found the canary in text
}

// newReplyStream makes r's stream ready for the reply about to be asked
// for.
func (r *run) newReplyStream() *replyStream {
	s := &r.stream
	push, flush := r.deltaMasker()
	*s = replyStream{r: r, push: push, flush: flush, hold: hold{text: s.text[:0]}}
	return s
}

// canary returns the check the texts of the reply share.
func (s *replyStream) canary() *guard.CanaryCheck {
	if s.check == nil {
		s.check = s.r.taint.canary.Check()
	}
	return s.check
}

// carries reports whether text, a text of the reply, carries the canary;
// when it is the text streamed, the stream knows it.
func (s *replyStream) carries(text string) bool {
	found := s.canary().In(text)
	if text == string(s.text) {
		s.whole, s.checked = text, len(text)
		s.leaked = s.leaked || found
	}
	return found
}

// piece takes a piece of the reply's text as the model streams it.
func (s *replyStream) piece(p string) {
	s.add(p)
	n := len(s.text)
	if s.leaked || !checkDue(n, s.checked) {
		return
	}
	cut := s.cut(s.r.taint.canary)
	if cut == s.sent {
		return
	}
	s.checked = n
	if s.canary().In(string(s.text)) {
		s.leaked = true
		return
	}
	s.send(string(s.text[s.sent:cut]))
}

// send passes cleared text on to the masker and the sink.
func (s *replyStream) send(text string) {
	s.sent += len(text)
	if m := s.push(text); m != "" {
		s.r.emit(bulwark.Event{Type: bulwark.EventModelDelta, Text: m})
	}
}

// end sends what the stream holds back, once the whole text streamed is
// cleared: checked by withholdLeaks (carries) or here. A reply that
// failed ends its stream too.
func (s *replyStream) end() {
	if n := len(s.text); !s.leaked && s.sent < n {
		if s.checked < n {
			s.leaked = s.canary().In(string(s.text))
		}
		switch {
		case s.leaked:
		case s.whole != "":
			s.send(s.whole[s.sent:])
		default:
			s.send(string(s.text[s.sent:]))
		}
	}
	if rest := s.flush(); rest != "" {
		s.r.emit(bulwark.Event{Type: bulwark.EventModelDelta, Text: rest})
	}
}
