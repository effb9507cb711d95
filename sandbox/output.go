package sandbox

import (
	"errors"
	"io"
	"os"
	"sync"
)

// capWriter passes at most left bytes on to w, then drops the rest and
// writes one marker line.
type capWriter struct {
	w       io.Writer
	left    int64
	dropped bool
	mu      sync.Mutex
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
			defer c.w.Write([]byte(truncMarker))
		}
	}
	c.left -= int64(len(p))
	if len(p) > 0 {
		if _, err := c.w.Write(p); err != nil {
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
