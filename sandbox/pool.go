package sandbox

import (
	"context"
	"io"
	"sync"
	"sync/atomic"

	"github.com/bulwark-agents/bulwark"
)

// Pool keeps sandboxes prepared ahead of time (namespaces made, file system
// built, Landlock and seccomp applied, the init blocked waiting for a
// command), so a command's start costs little more than a fork and exec.
// Every command still gets a fresh sandbox: a sandbox runs one command and
// is thrown away. A Pool is safe for concurrent use.
type Pool struct {
	spec  Spec
	size  int
	ready chan *box

	mu       sync.Mutex
	closed   bool
	filling  int            // sandboxes being prepared
	wg       sync.WaitGroup // preparations
	releases sync.WaitGroup // cleanups after runs
	// closeOnce counts the pool out of openPools once, however many
	// times it is closed.
	closeOnce sync.Once
}

// NewPool prepares size sandboxes for spec (Stdin, Stdout and Stderr of spec
// are ignored: each Run has its own) and keeps that many ready. It fails
// like Run when the host cannot sandbox.
func NewPool(spec Spec, size int) (*Pool, error) {
	spec = spec.withDefaults()
	spec.Stdin, spec.Stdout, spec.Stderr = nil, nil, nil
	if err := spec.validate(); err != nil {
		return nil, err
	}
	if Disabled() {
		return nil, bulwark.Errorf(bulwark.Unavailable, "sandbox.NewPool", "BULWARK_SANDBOX=off: no sandbox pool")
	}
	if size < 1 {
		size = 1
	}
	p := &Pool{spec: spec, size: size, ready: make(chan *box, size)}
	openPools.Add(1)
	// The first one in the caller's goroutine: a host that cannot sandbox
	// fails here, with the reason.
	b, err := start(spec)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.ready <- b
	p.mu.Lock()
	p.refill()
	p.mu.Unlock()
	return p, nil
}

// refill starts preparing sandboxes until size are ready or on the way.
// p.mu is held.
func (p *Pool) refill() {
	for !p.closed && len(p.ready)+p.filling < p.size {
		p.filling++
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			b, err := start(p.spec)
			p.mu.Lock()
			defer p.mu.Unlock()
			p.filling--
			if err != nil {
				return // Run starts one itself, and reports the error
			}
			if p.closed {
				b.discard()
				return
			}
			p.ready <- b
		}()
	}
}

// Run runs cmd in a prepared sandbox (or a new one when none is ready) and
// waits for it, as the package-level Run does. stdin may be nil.
func (p *Pool) Run(ctx context.Context, cmd []string, stdin io.Reader) (*Result, error) {
	return p.RunOutput(ctx, cmd, stdin, nil)
}

// RunOutput is Run with out (nil: none) receiving the command's output as
// it comes (see Output); the Result holds all of it as well.
func (p *Pool) RunOutput(ctx context.Context, cmd []string, stdin io.Reader, out Output) (*Result, error) {
	if len(cmd) == 0 {
		return nil, bulwark.Errorf(bulwark.Invalid, "sandbox.Pool.Run", "no command given")
	}
	var b *box
	select {
	case b = <-p.ready:
	default:
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		if b != nil {
			b.discard()
		}
		return nil, bulwark.Errorf(bulwark.Conflict, "sandbox.Pool.Run", "the sandbox pool is closed")
	}
	p.releases.Add(1)
	p.mu.Unlock()
	if b == nil {
		// None prepared: a cold one, its command handed over with its
		// configuration as Run does (see run).
		var err error
		if b, err = begin(p.spec); err != nil {
			p.releases.Done()
			return nil, err
		}
	}
	res, err := b.run(ctx, cmd, stdio{in: stdin, tap: out})
	// The sandbox's processes are gone; its cgroups and folders go after
	// the caller has its result, and only then do new sandboxes get
	// prepared, so neither competes with the command for the CPU.
	go func() {
		defer p.releases.Done()
		if err == nil {
			p.mu.Lock()
			closed := p.closed
			p.mu.Unlock()
			if closed {
				b.discard() // no spare init for a pool that is closing
			} else {
				b.cleanup()
			}
		}
		p.mu.Lock()
		p.refill()
		p.mu.Unlock()
	}()
	return res, err
}

// Close ends every prepared sandbox; Runs already going finish normally.
// Once it returns, none of the pool's sandboxes has a process left or
// holds host uids, and none is being prepared. The last open Pool's
// Close also ends the process's spare init, which served the pools'
// preparations (it would otherwise wait up to half a minute for a
// sandbox, holding a process and host uids): after it, no sandbox
// process is left but those of sandboxes started without a Pool.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.releases.Wait()
	p.wg.Wait()
	for drained := false; !drained; {
		select {
		case b := <-p.ready:
			b.discard()
		default:
			drained = true
		}
	}
	p.closeOnce.Do(func() {
		if openPools.Add(-1) == 0 {
			endSpare()
		}
	})
	return nil
}

// openPools counts the Pools made and not closed.
var openPools atomic.Int32
