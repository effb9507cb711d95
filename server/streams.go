package server

import (
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// StreamLimits cap the long-lived requests (Route.Stream: event streams
// and the Agent Protocol's long-polled steps) open at once, each of which
// holds a connection and a goroutine for minutes: per API key or browser
// session, per client address, per tenant, and in all. A request beyond a
// cap is answered 429 at once. Zero fields take DefaultStreamLimits,
// except PerTenant: half of Total. Each node counts its own: the caps
// guard that node's connections and goroutines.
type StreamLimits struct {
	PerKey    int // per API key or browser session (BULWARK_MAX_STREAMS_PER_KEY)
	PerClient int // per client address (BULWARK_MAX_STREAMS_PER_CLIENT)
	// PerTenant (BULWARK_MAX_STREAMS_PER_TENANT) keeps one tenant from
	// taking every place: an admin makes keys at will and a client may
	// hold many addresses, so the caps above do not bound a tenant.
	PerTenant int
	Total     int // in all (BULWARK_MAX_STREAMS)
}

// DefaultStreamLimits: a browser shows a few tasks at once; an
// installation serves a thousand open streams.
var DefaultStreamLimits = StreamLimits{PerKey: 16, PerClient: 32, Total: 1000}

// DefaultStreamRecheck is how often an open stream's credential is
// checked again unless Config.StreamRecheck says otherwise: a revoked key
// or ended session loses its streams within it.
const DefaultStreamRecheck = 5 * time.Second

// streamRetry is the Retry-After of a refused stream.
const streamRetry = 5 * time.Second

// streamCounter counts the open long-lived requests.
type streamCounter struct {
	lim   StreamLimits
	mu    sync.Mutex
	total int
	n     map[string]int // "key|..." and "addr|..." -> open
}

func newStreamCounter(lim StreamLimits) *streamCounter {
	if lim.PerKey <= 0 {
		lim.PerKey = DefaultStreamLimits.PerKey
	}
	if lim.PerClient <= 0 {
		lim.PerClient = DefaultStreamLimits.PerClient
	}
	if lim.Total <= 0 {
		lim.Total = DefaultStreamLimits.Total
	}
	if lim.PerTenant <= 0 {
		lim.PerTenant = max(lim.Total/2, 1)
	}
	return &streamCounter{lim: lim, n: map[string]int{}}
}

// acquire takes a place for a stream of credential cred (the key or
// session) of tenant from client addr, or returns a RateLimited error
// naming the cap that is full. The caller calls release once, when the
// stream ends.
func (c *streamCounter) acquire(cred string, tenant bulwark.TenantID, addr string) (release func(), err error) {
	const op = "server.stream"
	ck, tk, ak := "key|"+cred, "tenant|"+string(tenant), "addr|"+addr
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.total >= c.lim.Total:
		return nil, rateLimited(op, "the server has too many open event streams: try again shortly", streamRetry)
	case c.n[ak] >= c.lim.PerClient:
		return nil, rateLimited(op, "too many open event streams from your address: close some first", streamRetry)
	case c.n[ck] >= c.lim.PerKey:
		return nil, rateLimited(op, "too many open event streams for this key or session: close some first", streamRetry)
	case c.n[tk] >= c.lim.PerTenant:
		return nil, rateLimited(op, "too many open event streams for your tenant: close some first", streamRetry)
	}
	c.total++
	for _, k := range []string{ck, tk, ak} {
		c.n[k]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.total--
			for _, k := range []string{ck, tk, ak} {
				if c.n[k]--; c.n[k] <= 0 {
					delete(c.n, k)
				}
			}
		})
	}, nil
}

// streamCredential names what a stream counts against: the session of a
// browser, else the API key.
func streamCredential(p Principal) string {
	if p.SessionID != "" {
		return "session:" + p.SessionID
	}
	return "key:" + p.KeyID
}
