package sandbox

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// outputLog collects what an Output callback is given.
type outputLog struct {
	mu             sync.Mutex
	stdout, stderr bytes.Buffer
	seen           chan struct{} // closed once stdout holds want
	want           string
}

func newOutputLog(want string) *outputLog { return &outputLog{seen: make(chan struct{}), want: want} }

func (l *outputLog) out(stderr bool, p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if stderr {
		l.stderr.Write(p)
		return
	}
	had := strings.Contains(l.stdout.String(), l.want)
	l.stdout.Write(p)
	if !had && strings.Contains(l.stdout.String(), l.want) {
		close(l.seen)
	}
}

// streamingCommand prints "first", waits for its stdin to close, then
// prints "second" and a line on stderr. The test closes stdin only once
// "first" came through the callback: were output handed over only at the
// command's end, the command would never end (the hang guard fails it).
const streamingCommand = "echo first; cat >/dev/null; echo second; echo oops >&2"

func checkStreamed(t *testing.T, run func(stdin io.Reader, out Output) (*Result, error)) {
	t.Helper()
	log := newOutputLog("first")
	stdinR, stdinW := io.Pipe()
	type done struct {
		res *Result
		err error
	}
	ch := make(chan done, 1)
	go func() {
		res, err := run(stdinR, log.out)
		ch <- done{res, err}
	}()
	select {
	case <-log.seen:
	case d := <-ch:
		t.Fatalf("the command ended (%v) before its first line came through Output", d.err)
	case <-time.After(20 * time.Second): // a hang guard, not a speed assertion
		t.Fatal(`"first" never came through Output while the command ran`)
	}
	stdinW.Close()
	d := <-ch
	if d.err != nil {
		t.Fatal(d.err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if got := log.stdout.String(); got != "first\nsecond\n" || got != string(d.res.Stdout) {
		t.Errorf("Output got stdout %q, the result %q; want both %q", got, d.res.Stdout, "first\nsecond\n")
	}
	if got := log.stderr.String(); got != "oops\n" || got != string(d.res.Stderr) {
		t.Errorf("Output got stderr %q, the result %q; want both %q", got, d.res.Stderr, "oops\n")
	}
}

// TestOutputStreamsUnsandboxed: with BULWARK_SANDBOX=off, Spec.Output gets
// the output while the command runs, and the Result keeps it all.
func TestOutputStreamsUnsandboxed(t *testing.T) {
	t.Setenv("BULWARK_SANDBOX", "off")
	checkStreamed(t, func(stdin io.Reader, out Output) (*Result, error) {
		return Run(context.Background(), Spec{Stdin: stdin, Output: out}, []string{"bash", "-c", streamingCommand})
	})
}

// TestCapWriterTap: what goes past the cap reaches neither the writer nor
// the tap; both get the marker once.
func TestCapWriterTap(t *testing.T) {
	var buf, tap bytes.Buffer
	c := tapped(&buf, 4, func(stderr bool, p []byte) { tap.Write(p) }, false)
	c.Write([]byte("abc"))
	c.Write([]byte("defg"))
	c.Write([]byte("h"))
	if want := "abcd" + truncMarker; buf.String() != want || tap.String() != want {
		t.Errorf("writer got %q, tap %q; want both %q", buf.String(), tap.String(), want)
	}
}
