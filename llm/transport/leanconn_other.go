//go:build !linux

package transport

// stillIdle says whether the idle connection c can carry a request. Off
// Linux there is no peek here, so connections are not reused: correct,
// only slower.
func (c *leanConn) stillIdle() bool { return false }
