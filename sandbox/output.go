package sandbox

import (
	"errors"
	"io"
	"os"
	"sync"
)

// Output receives a command's output as it comes, from the goroutines
// that copy the command's pipes: stderr says which pipe, p is valid only
// during the call. It is given what the command's result gets (capped at
// the output limit, with the truncation marker), in the same order. It
// must not block: the command waits while it runs.
type Output func(stderr bool, p []byte)

// capWriter passes at most left bytes on to w, then drops the rest and
// writes one marker line. What it passes on goes to tap too, when set.
type capWriter struct {
	w       io.Writer
	left    int64
	dropped bool
	tap     func([]byte)
	mu      sync.Mutex
}

// tapped returns a capWriter for w that also hands what it writes to out
// (nil: to nobody), marked as from stderr or not.
func tapped(w io.Writer, left int64, out Output, stderr bool) *capWriter {
	c := &capWriter{w: w, left: left}
	if out != nil {
		c.tap = func(p []byte) { out(stderr, p) }
	}
	return c
}

func (c *capWriter) pass(p []byte) error {
	if c.tap != nil {
		c.tap(p)
	}
	_, err := c.w.Write(p)
	return err
}

const truncMarker = "\n[bulwark: output truncated at the sandbox limit]\n"

func (c *capWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	if int64(len(p)) > c.left {
		p = p[:c.left]
		if !c.dropped {
			c.dropped = true
			defer c.pass([]byte(truncMarker))
		}
	}
	c.left -= int64(len(p))
	if len(p) > 0 {
		if err := c.pass(p); err != nil {
			return n, err
		}
	}
	return n, nil
}

// copyFrom drains r (so the command never blocks on a full pipe) into c.
func (c *capWriter) copyFrom(r *os.File) {
	defer r.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				io.Copy(io.Discard, r)
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				io.Copy(io.Discard, r)
			}
			return
		}
	}
}
