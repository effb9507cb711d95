//go:build !linux

package transport

// reusable says whether the pooled connection c may be taken for a
// request. Off Linux there is no peek here, so connections are not
// reused: correct, only slower.
func (c *leanConn) reusable() bool { return false }

// writeIdle is never called off Linux (reusable).
func (c *leanConn) writeIdle(b []byte) (n int, idle bool, err error) {
	n, err = c.nc.Write(b)
	return n, true, err
}
