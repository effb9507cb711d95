package sandbox

import (
	"bytes"
	"context"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-agents/bulwark"
	"golang.org/x/sys/unix"
)

// run gives the prepared sandbox its command, waits for it (or the
// deadline) and tears the sandbox down. A box runs one command only. When
// run returns, every process of the sandbox is gone; removing its cgroups
// and folders is left to release (b.cleanup), which a Pool runs later.
func (b *box) run(ctx context.Context, argv []string, io stdio) (_ *Result, err error) {
	const op = "sandbox.Run"
	defer func() {
		if err != nil {
			b.cleanup()
		}
	}()
	res := &Result{ExitCode: -1}
	req, err := b.request(argv, false)
	if err != nil {
		return nil, err
	}

	stdinFd, stdinDone, err := stdinFor(io.in)
	if err != nil {
		return nil, bulwark.E(bulwark.Internal, op, "sandbox: stdin", err)
	}
	defer stdinDone()
	var outBuf, errBuf bytes.Buffer
	outW, errW := io.out, io.err
	if outW == nil {
		outW = &outBuf
	}
	if errW == nil {
		errW = &errBuf
	}
	outR, outFd, err := pipe()
	if err != nil {
		return nil, bulwark.E(bulwark.Internal, op, "sandbox: pipe", err)
	}
	errR, errFd, err := pipe()
	if err != nil {
		outR.Close()
		unix.Close(outFd)
		return nil, bulwark.E(bulwark.Internal, op, "sandbox: pipe", err)
	}
	outCap := tapped(outW, b.spec.OutputLimit, io.tap, false)
	denied := &deniedWatch{w: errW}
	errCap := tapped(denied, b.spec.OutputLimit, io.tap, true)
	var copies sync.WaitGroup
	copies.Add(2)
	go func() { defer copies.Done(); outCap.copyFrom(outR) }()
	go func() { defer copies.Done(); errCap.copyFrom(errR) }()

	started := time.Now()
	// A box from begin gets its command before its init has answered its
	// configuration: the init reads the request only once it is prepared
	// (the control socket keeps messages apart and in order), and the
	// round trip of a Ready before the command is saved. The command's
	// time counts from the Ready.
	pending := b.pending
	guard := guardWorkspace(b.spec, b.wsDir, b.pid, b.kill)
	defer guard.end()
	err = send(b.ctrl, &req, stdinFd, outFd, errFd)
	unix.Close(outFd)
	unix.Close(errFd)
	if err != nil {
		// An init that refused its configuration has ended: its reason
		// is queued, and says more than the broken pipe.
		var refused error
		if pending {
			refused = b.awaitReady()
		}
		b.kill()
		copies.Wait()
		if refused != nil {
			return nil, refused
		}
		return nil, bulwark.E(bulwark.Internal, op, "sandbox: cannot hand over the command", err)
	}
	if pending {
		if err := b.awaitReady(); err != nil {
			b.kill()
			copies.Wait()
			return nil, err
		}
		started = time.Now()
	}

	timer := time.NewTimer(b.spec.Timeout)
	defer timer.Stop()
	var timedOut, canceled atomic.Bool
	watch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-timer.C:
			timedOut.Store(true)
			b.kill()
		case <-ctx.Done():
			canceled.Store(true)
			b.kill()
		case <-watch:
		}
	}()
	b.spec.Trace.Mark("host: command handed over")
	var reply runReply
	rerr := recvReply(b.ctrl, &reply)
	res.Duration = time.Since(started)
	b.spec.Trace.addInit(reply.Trace)
	b.spec.Trace.Mark("host: command's end reported")
	close(watch)
	<-watched
	wsWhy := guard.end()
	// The command is done: everything else it started dies with the init.
	// When the init says it is alone, only the init itself is left, and it
	// exits by itself; otherwise it is killed, and with it the namespace.
	if rerr != nil || !reply.Alone {
		b.kill()
		<-b.done
	}
	copies.Wait()
	b.spec.Trace.Mark("host: output copied")
	if rerr == nil && reply.Err != "" && !reply.Started {
		// The command could not be started: say why, like a shell would,
		// on its stderr, before the output is handed over.
		errCap.Write([]byte("sandbox: " + reply.Err + "\n"))
	} else if rerr == nil && reply.Started {
		// A program the command tried to run was refused: say why, as
		// for the command itself.
		for _, why := range denied.reasons(b.spec) {
			errCap.Write([]byte("sandbox: " + why + "\n"))
		}
	}
	res.TimedOut = timedOut.Load()
	res.LimitHit = b.cg.limitsHit()
	res.LimitHit = append(res.LimitHit, writeLimits(b.spec, errCap, denied, wsWhy, rerr == nil && reply.Signal == int(unix.SIGXFSZ))...)
	if outCap.dropped || errCap.dropped {
		res.LimitHit = append(res.LimitHit, "output")
	}
	res.Stdout, res.Stderr = outBuf.Bytes(), errBuf.Bytes()
	b.mu.Lock()
	res.Denials = b.denials
	b.mu.Unlock()
	switch {
	case canceled.Load() && !res.TimedOut:
		return res, bulwark.E(bulwark.Canceled, op, "sandbox: canceled", ctx.Err())
	case rerr == nil:
		res.ExitCode = reply.Exit
		res.NotAllowed = reply.NotAllowed && !reply.Started
		res.SyscallKilled = min(max(reply.SyscallKilled, 0), maxCountedKills)
	case res.TimedOut:
	case len(res.LimitHit) > 0:
	default:
		return res, bulwark.E(bulwark.Internal, op, "sandbox: the init died", rerr)
	}
	return res, nil
}

// maxCountedKills bounds the SyscallKilled an init may report.
const maxCountedKills = 1 << 16

// stdinFor returns an fd to hand over as the command's stdin and a function
// to call when the command has ended.
func stdinFor(r io.Reader) (int, func(), error) {
	if f, ok := r.(*os.File); ok {
		return int(f.Fd()), func() {}, nil
	}
	if r == nil {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, nil, err
		}
		return fd, func() { unix.Close(fd) }, nil
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return -1, nil, err
	}
	w := os.NewFile(uintptr(p[1]), "stdin")
	go func() { io.Copy(w, r); w.Close() }()
	return p[0], func() { unix.Close(p[0]) }, nil
}

// pipe returns the read end as a file and the write end as a bare fd.
func pipe() (*os.File, int, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, -1, err
	}
	return os.NewFile(uintptr(p[0]), "output"), p[1], nil
}
