package mcpclient

import (
	"context"
	"io"

	"golang.org/x/time/rate"
)

// What a stdio server may send a second, and at once: more waits in the
// pipe, and the server's writes block. The SDK queues every notification
// a server sends, without bound, and decodes each before Bulwark sees it:
// a server writing 16 MB log notifications without pause grew the host's
// process by gigabytes (a red team), and the sandbox's memory limit is
// the server's, not the host's.
const (
	serverBytesPerSecond = 4 << 20
	serverBurst          = 16 << 20
)

// maxServerMessage bounds one message of a stdio server (the SDK's default
// is 16 MiB): one past it ends the server's session. What a message
// becomes once decoded is several times its size, and what a tool returns
// is cut far below this before the model reads it.
const maxServerMessage = 8 << 20

// throttled reads a server's output at most at serverBytesPerSecond,
// until ctx ends.
type throttled struct {
	io.ReadCloser
	ctx context.Context
	lim *rate.Limiter
}

func throttle(ctx context.Context, r io.ReadCloser) *throttled {
	return &throttled{ReadCloser: r, ctx: ctx, lim: newServerLimiter()}
}

// newServerLimiter is the budget of one server's output: a remote server's
// answers and event streams share one (guard), as a stdio server's pipe
// has one.
func newServerLimiter() *rate.Limiter { return rate.NewLimiter(serverBytesPerSecond, serverBurst) }

func (t *throttled) Read(b []byte) (int, error) {
	n, err := t.ReadCloser.Read(b[:min(len(b), serverBurst)])
	if n > 0 {
		if werr := t.lim.WaitN(t.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}
