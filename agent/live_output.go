package agent

import (
	"context"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
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

// liveOutput streams the output of one running call.
type liveOutput struct {
	r    *run
	tool string
	id   string
	step int

	mu      sync.Mutex
	mask    [2]StreamMasker
	pending [2][]byte // masked, not yet sent
	sent    int
	timer   *time.Timer
	idle    *time.Timer // releases what the maskers hold once the command pauses
	last    time.Time   // of the last write
	done    bool        // closed, or cut at liveOutputMax
}

// withLiveOutput returns ctx with a tool.OutputFunc that streams the
// output of call as events, and the function that ends it (call it when
// the call returns: nothing is sent after it). Without a streaming masker
// ctx is returned as it is.
func (r *run) withLiveOutput(ctx context.Context, name, callID string) (context.Context, func()) {
	if r.cfg.MaskStream == nil {
		return ctx, func() {}
	}
	o := &liveOutput{r: r, tool: name, id: callID, step: r.step}
	for i := range o.mask {
		o.mask[i] = r.cfg.MaskStream()
	}
	return tool.WithOutput(ctx, o.write), o.close
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
	o.pending[i] = append(o.pending[i], o.mask[i].Push(string(p))...)
	switch {
	case len(o.pending[i]) >= liveOutputChunk:
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

// release sends what the maskers hold back once no write came for
// liveOutputIdle, and waits on otherwise.
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
	for i := range o.pending {
		o.pending[i] = append(o.pending[i], o.mask[i].Release()...)
	}
	o.flush()
}

// flush sends what is waiting, up to the last whole character of each
// stream; o.mu is held.
func (o *liveOutput) flush() {
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
		o.sent += len(text)
		o.pending[i] = append(p[:0], p[n:]...)
		o.r.emit(bulwark.Event{Type: bulwark.EventToolOutput, Tool: o.tool, CallID: o.id, Step: o.step, Text: text, IsError: i == 1})
		if o.done {
			return
		}
	}
}

// close ends the stream once the call has returned: the command's
// output is complete, so what each masker held back is masked as the
// whole output is, and sent with what was waiting (a view that showed
// the output as it came then has all of it). Nothing is sent after
// close returns.
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
	if !o.done {
		for i := range o.pending {
			o.pending[i] = append(o.pending[i], o.mask[i].Flush()...)
		}
		o.flush()
	}
	o.done = true
}
