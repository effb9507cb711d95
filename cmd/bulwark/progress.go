package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/bulwark-agents/bulwark/internal/bytesize"
)

// progress shows how far a long operation (backup, restore, db copy) has
// come, on one line of stderr redrawn in place, and only when stderr is a
// terminal: scripts and logs get the final report alone. A nil *progress
// shows nothing, so callers need not check.
type progress struct {
	w     io.Writer
	label string
	last  time.Time
	shown bool
}

// newProgress returns a progress line for label on s.err, or nil when
// s.err is not a terminal.
func newProgress(s stdio, label string) *progress {
	f, ok := s.err.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &progress{w: s.err, label: label}
}

// bytes shows done of total bytes.
func (p *progress) bytes(done, total int64) {
	if total > 0 {
		p.show(done == total, "%s of %s (%d%%)", bytesize.Fixed(done), bytesize.Fixed(total), done*100/total)
	} else {
		p.show(false, "%s", bytesize.Fixed(done))
	}
}

// step shows what is being done now.
func (p *progress) step(format string, args ...any) { p.show(false, format, args...) }

// show redraws the line, at most ten times a second unless force.
func (p *progress) show(force bool, format string, args ...any) {
	if p == nil {
		return
	}
	now := time.Now()
	if !force && p.shown && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last, p.shown = now, true
	fmt.Fprintf(p.w, "\r\033[K%s: %s", p.label, fmt.Sprintf(format, args...))
}

// done clears the line, so that the report that follows starts clean.
func (p *progress) done() {
	if p == nil || !p.shown {
		return
	}
	fmt.Fprint(p.w, "\r\033[K")
	p.shown = false
}

// progressReader tells p how much of r (of total bytes) has been read.
type progressReader struct {
	r     io.Reader
	p     *progress
	done  int64
	total int64
}

func (pr *progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	pr.done += int64(n)
	pr.p.bytes(pr.done, pr.total)
	return n, err
}
