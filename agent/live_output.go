package agent

import (
	"context"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/tool"
)

// Live output: what a command prints while it runs reaches those watching
// the task as tool_output_delta events (live only, never stored: the
// call's tool_result holds the whole output). Each stream (stdout,
// stderr) is masked by its own streaming masker (Config.MaskStream), so a
// secret split across pieces is still hidden; without one nothing is
// streamed. Pieces are gathered and sent at most every liveOutputEvery
// (at once when liveOutputChunk bytes are waiting), and a call streams at
// most liveOutputMax bytes.
//
// A masker holds back the end of its text, whatever it is (what it holds
// must not tell whether the text could start a secret: see secret.Stream),
// so a command that prints a line and then waits would not show it. Once
// a command has printed nothing for liveOutputIdle, what both maskers hold
// is released and sent. That is the same for every text, and longer than
// the pauses of a command that prints a secret in pieces (the rest is then
// still masked with the start); a command that pauses longer midway
// through a secret shows its start live (the rest is masked; the result
// masks all of it).
const (
	liveOutputEvery = 100 * time.Millisecond
	liveOutputIdle  = time.Second
	liveOutputChunk = 16 << 10
	liveOutputMax   = 256 << 10
)

// A StreamMasker masks secrets in one text that arrives in pieces
// (secret.Stream is one).
type StreamMasker interface {
	// Push takes the next piece and returns what is safe to show so far:
	// it holds back the end of the text, where a secret could start.
	Push(piece string) string
	// Release returns what is held back, whatever it is, when the text
	// has stopped for a while; the text may go on.
	Release() string
	// Flush returns the rest at the end of the text.
	Flush() string
}

// liveOutputCut ends a call's live output once liveOutputMax is reached.
const liveOutputCut = "\n[live output cut here: the whole output comes with the result]\n"

// liveOutput streams the output of one running call. Before the maskers,
// each stream is held as a reply's text is (hold, withhold.go): what goes
// out is what a check of the whole output so far cleared, less each
// stream's last word and streamHold bytes before it, so that a command
// that prints the task's canary token (the model wrote its halves into
// two files, each write's arguments no token, and cats them) sends no
// byte of it live. The check reads each stream and both as they came
// (a token whose halves went one to stdout, one to stderr), and sends
// nothing once it finds the token: the command is stopped, its result
// withheld, and the task ends for the leak (callToolOnce). What the hold
// keeps goes out when the command ends, once a check of all of it has
// cleared it: a command that prints a line and waits shows it only once
// more follows or it ends. Past liveOutputMax nothing more is taken.
type liveOutput struct {
	r      *run
	tool   string
	id     string
	step   int
	canary guard.Canary

	mu      sync.Mutex
	held    [2]hold // each stream's text as it came
	all     []byte  // both streams' text, in the order it came
	checked int     // how much of all the last check read
	// streamChecked is how much of each stream's text the last check of
	// it read.
	streamChecked [2]int
	leaked        bool // a check found the canary
	mask          [2]StreamMasker
	pending       [2][]byte // masked, not yet sent
	sent          int
	timer         *time.Timer
	idle          *time.Timer // releases what the maskers hold once the command pauses
	last          time.Time   // of the last write
	done          bool        // closed, cut at liveOutputMax, or leaked
	// stop cancels the call: its output carried the canary, and the task
	// ends once it has returned. Nil: none to cancel.
	stop context.CancelFunc
}

// withLiveOutput returns ctx with a tool.OutputFunc that streams the
// output of call as events, and the function that ends it (call it when
// the call returns: nothing is sent after it; it sets r.liveLeak when a
// check found the canary in the output). Without a streaming masker ctx
// is returned as it is.
func (r *run) withLiveOutput(ctx context.Context, name, callID string) (context.Context, func()) {
	if r.cfg.MaskStream == nil {
		return ctx, func() {}
	}
	o := r.newLiveOutput(name, callID)
	ctx, o.stop = context.WithCancel(ctx)
	return tool.WithOutput(ctx, o.write), o.close
}

// newLiveOutput returns the live output of the call callID of the tool
// name.
func (r *run) newLiveOutput(name, callID string) *liveOutput {
	o := &liveOutput{r: r, tool: name, id: callID, step: r.step, canary: r.taint.canary}
	for i := range o.mask {
		o.mask[i] = r.cfg.MaskStream()
	}
	return o
}

func (o *liveOutput) write(stderr bool, p []byte) {
	i := 0
	if stderr {
		i = 1
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return
	}
	o.held[i].add(string(p))
	o.all = append(o.all, p...)
	switch {
	case len(o.all) >= liveOutputMax:
		// No more is taken: what the check clears goes out, the rest
		// comes with the result.
		o.clear(true)
		o.flush()
		if !o.done {
			o.emit(i, liveOutputCut)
			o.done = true
		}
		return
	case len(o.all)-o.checked >= max(liveOutputChunk, len(o.all)/2):
		// A flood is checked when it has doubled (the check reads all
		// of it: its cost stays within twice the output's), between the
		// timer's flushes.
		o.flush()
	case o.timer == nil:
		o.timer = time.AfterFunc(liveOutputEvery, func() {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.timer = nil
			if !o.done {
				o.flush()
			}
		})
	}
	o.last = time.Now()
	if o.idle == nil {
		o.idle = time.AfterFunc(liveOutputIdle, o.release)
	}
}

// clear checks the output, when a check is due (or now, with now), and
// hands what it cleared of each stream to its masker; o.mu is held. A check that finds the canary ends the stream,
// and the call (carries).
func (o *liveOutput) clear(now bool) {
	n := len(o.all)
	if o.leaked || n == o.checked || !now && !checkDue(n, o.checked) {
		return
	}
	if o.carries() {
		return
	}
	for i := range o.held {
		o.pass(i, o.held[i].cut(o.canary))
	}
}

// carries reports whether the output so far carries the canary, and ends
// the stream if it does: both streams as they came, then each stream
// alone (a token cut by the other stream's text between its pieces) that
// is not all of it and has grown since it was last read; o.mu is held.
// The call is canceled: the task ends for the leak once it returns, and
// what the command would do next is not waited for.
func (o *liveOutput) carries() bool {
	o.checked = len(o.all)
	found := o.canary.In(string(o.all))
	for i := range o.held {
		t := o.held[i].text
		if found || len(t) == len(o.all) || len(t) == o.streamChecked[i] {
			continue
		}
		o.streamChecked[i] = len(t)
		found = o.canary.In(string(t))
	}
	if found {
		o.leaked, o.done = true, true
		o.pending = [2][]byte{}
		if o.stop != nil {
			o.stop()
		}
	}
	return found
}

// pass hands stream i's text up to cut, cleared, to its masker.
func (o *liveOutput) pass(i, cut int) {
	h := &o.held[i]
	if cut > h.sent {
		o.pending[i] = append(o.pending[i], o.mask[i].Push(string(h.text[h.sent:cut]))...)
		h.sent = cut
	}
}

// release sends what the maskers hold back once no write came for
// liveOutputIdle, and waits on otherwise. The check's hold is not
// released: a token's halves printed with a pause between would go out.
func (o *liveOutput) release() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return
	}
	if wait := liveOutputIdle - time.Since(o.last); wait > 0 {
		o.idle.Reset(wait)
		return
	}
	o.idle = nil
	// A pause checks the output at once while it is short (a command that
	// printed the token and waits is stopped); a longer one when a check
	// is due, as the timer's flushes do: each check reads all of it, and a
	// command that prints a line a second would have it read each time.
	o.clear(len(o.all) <= liveOutputChunk)
	if o.done {
		return
	}
	for i := range o.pending {
		o.pending[i] = append(o.pending[i], o.mask[i].Release()...)
	}
	o.flush()
}

// flush checks the output when a check is due and sends what is waiting,
// up to the last whole character of each stream; o.mu is held.
func (o *liveOutput) flush() {
	o.clear(false)
	for i, p := range o.pending {
		n := len(p)
		for k := 1; k <= utf8.UTFMax && k <= n; k++ {
			// A character cut at the end of the piece waits for its rest.
			if c := p[n-k]; utf8.RuneStart(c) {
				if !utf8.FullRune(p[n-k:]) {
					n -= k
				}
				break
			}
		}
		if n == 0 || o.done {
			continue
		}
		text := string(p[:n])
		if left := liveOutputMax - o.sent; len(text) > left {
			text = validUTF8Prefix(text, left) + liveOutputCut
			o.done = true
		}
		o.pending[i] = append(p[:0], p[n:]...)
		o.emit(i, text)
		if o.done {
			return
		}
	}
}

// emit sends text as stream i's next piece.
func (o *liveOutput) emit(i int, text string) {
	o.sent += len(text)
	o.r.emit(bulwark.Event{Type: bulwark.EventToolOutput, Tool: o.tool, CallID: o.id, Step: o.step, Text: text, IsError: i == 1})
}

// close ends the stream once the call has returned: the command's
// output is complete, so once a check of all of it clears it, what the
// hold and each masker held back is masked as the whole output is, and
// sent with what was waiting (a view that showed the output as it came
// then has all of it). Nothing is sent after close returns. It runs on
// the loop's goroutine, and tells the loop of a leak (r.liveLeak).
func (o *liveOutput) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.timer != nil {
		o.timer.Stop()
		o.timer = nil
	}
	if o.idle != nil {
		o.idle.Stop()
		o.idle = nil
	}
	if !o.done && (o.checked == len(o.all) || !o.carries()) {
		for i := range o.held {
			o.pass(i, len(o.held[i].text))
			o.pending[i] = append(o.pending[i], o.mask[i].Flush()...)
		}
		o.flush()
	}
	o.done = true
	if o.leaked {
		o.r.liveLeak = true
	}
	if o.stop != nil {
		o.stop()
	}
}
