package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// Process is a command that Start runs in its own sandbox for as long as
// it lives: a stdio MCP server, say, whose stdin and stdout are a JSON-RPC
// channel. It has the isolation of Run (namespaces, Landlock, seccomp,
// cgroup limits, the egress proxy) but no timeout unless Spec.Timeout is
// set, and its stdout is a stream, not capped.
type Process struct {
	stdin   *os.File
	stdout  *os.File
	stderr  *streamBuf
	errRead *streamReader
	kill    func()
	killed  atomic.Bool
	box     *box      // nil when unsandboxed
	cov     *coverage // what its sandbox hid of the workspace; nil: nothing
	done    chan struct{}
	res     *Result
	err     error
}

// Start runs argv in a fresh sandbox of spec and returns once it runs.
// Spec.Stdin and Spec.Stdout are not used (see Process.Stdin and Stdout);
// Spec.Stderr and Spec.Output, when set, receive stderr as well (capped).
// ctx's end, the timeout (only when Spec.Timeout > 0) or Kill ends the
// whole process tree, the sandbox and its egress proxy. A command that the sandbox
// refuses to start (not on AllowExec, not found) is an Invalid error that
// says why; a host that cannot sandbox is an Unavailable error naming
// what is missing, unless BULWARK_SANDBOX=off, where the command runs
// without a sandbox (Result.Unsandboxed).
func Start(ctx context.Context, spec Spec, argv []string) (*Process, error) {
	timeout := spec.Timeout // withDefaults fills in Run's default
	spec = spec.withDefaults()
	spec.Timeout = max(timeout, 0)
	if err := spec.validate(); err != nil {
		return nil, err
	}
	if len(argv) == 0 {
		return nil, bulwark.Errorf(bulwark.Invalid, "sandbox.Start", "no command given")
	}
	if err := ctx.Err(); err != nil {
		return nil, bulwark.E(bulwark.Canceled, "sandbox.Start", "sandbox: canceled", err)
	}
	if Disabled() {
		return startUnsandboxed(ctx, spec, argv)
	}
	b, err := start(spec)
	if err != nil {
		return nil, err
	}
	return b.launch(ctx, argv)
}

// Stdin is the process's standard input; Close sends it end-of-file.
func (p *Process) Stdin() io.WriteCloser { return p.stdin }

// Stdout is the process's standard output as it comes, uncapped; it ends
// (io.EOF) when every process of the sandbox is gone. Close it when done.
func (p *Process) Stdout() io.ReadCloser { return p.stdout }

// Stderr is the process's standard error as it comes, capped at
// Spec.OutputLimit (then a marker line); it ends when the process does.
// Nothing blocks on it: what is not read waits in memory (capped).
func (p *Process) Stderr() io.Reader { return p.errRead }

// Wait waits for the process tree to end and returns how it ended; the
// sandbox is gone by then. Result.Stderr holds the stderr (capped);
// stdout is not kept. The error is a Canceled one when ctx ended it
// (Kill is no error).
func (p *Process) Wait() (*Result, error) {
	<-p.done
	return p.res, p.err
}

// Kill ends the whole process tree at once (SIGKILL, whatever it ignores)
// and closes its stdin and stdout. Wait then returns.
func (p *Process) Kill() {
	p.killed.Store(true)
	p.kill()
	p.stdin.Close()
	p.stdout.Close()
}

// newProcess makes a Process whose stdin and stdout are pipes of which the
// command gets the other ends, and whose stderr goes to a capped buffer.
func newProcess() (_ *Process, inR, outW *os.File, err error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, nil, nil, err
	}
	buf := newStreamBuf()
	return &Process{stdin: inW, stdout: outR, stderr: buf, errRead: &streamReader{s: buf}, done: make(chan struct{})}, inR, outW, nil
}

// startUnsandboxed runs argv as a plain child process, for
// BULWARK_SANDBOX=off, as runUnsandboxed does.
func startUnsandboxed(ctx context.Context, spec Spec, argv []string) (*Process, error) {
	const op = "sandbox.Start"
	slog.Warn(UnsandboxedWarning, "command", argv[0])
	dir, tempDir := spec.Workspace, ""
	if dir == "" {
		d, err := os.MkdirTemp("", "bulwark-ws-")
		if err != nil {
			return nil, bulwark.E(bulwark.Internal, op, "cannot create a workspace", err)
		}
		dir, tempDir = d, d
	}
	removeTemp := func() {
		if tempDir != "" {
			os.RemoveAll(tempDir)
		}
	}
	p, inR, outW, err := newProcess()
	if err != nil {
		removeTemp()
		return nil, bulwark.E(bulwark.Internal, op, "sandbox: pipe", err)
	}
	errCap := tapped(p.stderrSink(spec), spec.OutputLimit, spec.Output, true)
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		outW.Close()
		p.stdin.Close()
		p.stdout.Close()
		removeTemp()
		return nil, bulwark.E(bulwark.Internal, op, "sandbox: pipe", err)
	}
	copied := make(chan struct{})
	go func() { defer close(copied); errCap.copyFrom(errR) }()
	c := exec.Command(argv[0], argv[1:]...)
	c.Dir = dir
	env := commandEnv(spec)
	for i, e := range env {
		if strings.HasPrefix(e, "HOME=") {
			env[i] = "HOME=" + dir
		}
	}
	c.Env = env
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// Files only: no copying goroutines, so Wait returns when the process
	// itself ends, whatever its children hold open.
	c.Stdin, c.Stdout, c.Stderr = inR, outW, errW
	started := time.Now()
	err = c.Start()
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		p.stdin.Close()
		p.stdout.Close()
		<-copied
		removeTemp()
		return nil, bulwark.Errorf(bulwark.Invalid, op, "sandbox: %s: %v", argv[0], err)
	}
	pid := c.Process.Pid
	var once sync.Once
	p.kill = func() { once.Do(func() { syscall.Kill(-pid, syscall.SIGKILL) }) }
	canceled, timedOut := watch(ctx, spec.Timeout, p.kill, p.done)
	go func() {
		err := c.Wait()
		// The group goes with its leader: nothing may outlive the process.
		// (Through p.kill: once, never at a reused pid.)
		p.kill()
		<-copied
		res := &Result{ExitCode: -1, Duration: time.Since(started), Unsandboxed: true}
		var ee *exec.ExitError
		switch {
		case err == nil:
			res.ExitCode = 0
		case errors.As(err, &ee):
			res.ExitCode = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				res.ExitCode = 128 + int(ws.Signal())
			}
		default:
			fmt.Fprintf(errCap, "sandbox: %s: %v\n", argv[0], err)
		}
		p.finish(res, errCap, canceled, timedOut, ctx)
		removeTemp()
	}()
	return p, nil
}

// stderrSink is where the command's stderr goes before the cap: the
// Process's buffer and Spec.Stderr.
func (p *Process) stderrSink(spec Spec) io.Writer {
	if spec.Stderr != nil {
		return io.MultiWriter(p.stderr, spec.Stderr)
	}
	return p.stderr
}

// finish records how the process ended and releases Wait.
func (p *Process) finish(res *Result, errCap *capWriter, canceled, timedOut *atomic.Bool, ctx context.Context) {
	res.TimedOut = timedOut.Load()
	if errCap.dropped {
		res.LimitHit = append(res.LimitHit, "output")
	}
	p.stderr.close()
	res.Stderr = p.stderr.bytes()
	p.stdin.Close() // nobody reads it any more
	if canceled.Load() && !res.TimedOut && !p.killed.Load() {
		p.err = bulwark.E(bulwark.Canceled, "sandbox.Start", "sandbox: canceled", ctx.Err())
	}
	p.res = res
	close(p.done)
}

// watch kills when ctx ends or timeout (when > 0) passes, until done.
func watch(ctx context.Context, timeout time.Duration, kill func(), done <-chan struct{}) (canceled, timedOut *atomic.Bool) {
	canceled, timedOut = new(atomic.Bool), new(atomic.Bool)
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		timer = t.C
		go func() { <-done; t.Stop() }()
	}
	go func() {
		select {
		case <-timer:
			timedOut.Store(true)
			kill()
		case <-ctx.Done():
			canceled.Store(true)
			kill()
		case <-done:
		}
	}()
	return canceled, timedOut
}

// streamBuf keeps what is written (the cap is the writer's) and lets a
// reader follow it without ever blocking the writer.
type streamBuf struct {
	mu     sync.Mutex
	cond   *sync.Cond
	data   []byte
	closed bool
}

func newStreamBuf() *streamBuf {
	s := &streamBuf{}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *streamBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.data = append(s.data, p...)
	s.mu.Unlock()
	s.cond.Broadcast()
	return len(p), nil
}

func (s *streamBuf) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cond.Broadcast()
}

func (s *streamBuf) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.data...)
}

type streamReader struct {
	s   *streamBuf
	off int
}

func (r *streamReader) Read(p []byte) (int, error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for r.off >= len(s.data) && !s.closed {
		s.cond.Wait()
	}
	if r.off >= len(s.data) {
		return 0, io.EOF
	}
	n := copy(p, s.data[r.off:])
	r.off += n
	return n, nil
}
