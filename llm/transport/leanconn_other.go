//go:build !linux

package transport

// reusable says whether the pooled connection c may be taken for a
// request. Off Linux there is no peek here, so connections are not
// reused: correct, only slower.
func (c *leanConn) reusable() bool { return false }

// idleWrite is writeIdle's state on Linux.
type idleWrite struct{}

// writeIdle is never called off Linux (reusable).
func (c *leanConn) writeIdle(w *wire, _ bool) (n int, idle bool, err error) {
	n, err = c.nc.Write(w.bytes())
	return n, true, err
}
