package sandbox

import (
	"context"
	"time"

	"github.com/bulwark-agents/bulwark"
	"golang.org/x/sys/unix"
)

// launch gives the prepared sandbox its long-lived command and returns once
// the init says it runs. A goroutine then waits for its end, tears the
// sandbox down and releases Wait; ctx, the timeout (when set) and Kill end
// it by killing the init, which takes the whole pid namespace with it.
func (b *box) launch(ctx context.Context, argv []string) (*Process, error) {
	const op = "sandbox.Start"
	req, err := b.request(argv, true)
	if err != nil {
		b.cleanup()
		return nil, err
	}
	cov, err := b.coverage(req.Hide)
	if err != nil {
		b.cleanup()
		return nil, err
	}
	p, inR, outW, err := newProcess()
	if err != nil {
		b.cleanup()
		return nil, bulwark.E(bulwark.Internal, op, "sandbox: pipe", err)
	}
	errR, errFd, err := pipe()
	if err != nil {
		inR.Close()
		outW.Close()
		p.stdin.Close()
		p.stdout.Close()
		b.cleanup()
		return nil, bulwark.E(bulwark.Internal, op, "sandbox: pipe", err)
	}
	denied := &deniedWatch{w: p.stderrSink(b.spec)}
	errCap := tapped(denied, b.spec.OutputLimit, b.spec.Output, true)
	copied := make(chan struct{})
	go func() { defer close(copied); errCap.copyFrom(errR) }()

	// Watching from here on: a ctx that ends while the init starts the
	// command ends it too.
	canceled, timedOut := watch(ctx, b.spec.Timeout, b.kill, p.done)
	started := time.Now()
	guard := guardWorkspace(b.spec, b.wsDir, b.pid, b.kill)
	err = send(b.ctrl, &req, int(inR.Fd()), int(outW.Fd()), errFd)
	inR.Close()
	outW.Close()
	unix.Close(errFd)
	var first runReply
	if err == nil {
		err = recvReply(b.ctrl, &first)
	}
	if err != nil || !first.Running {
		b.kill()
		guard.end()
		<-b.done
		<-copied
		b.cleanup()
		p.stdin.Close()
		p.stdout.Close()
		close(p.done)
		switch {
		case canceled.Load():
			return nil, bulwark.E(bulwark.Canceled, op, "sandbox: canceled", ctx.Err())
		case err != nil:
			return nil, bulwark.E(bulwark.Internal, op, "sandbox: cannot start the command", err)
		case first.Err != "":
			return nil, bulwark.E(bulwark.Invalid, op, "sandbox: "+first.Err, nil)
		}
		return nil, bulwark.Errorf(bulwark.Internal, op, "sandbox: the command did not start")
	}
	p.kill, p.box, p.cov = b.kill, b, cov
	go func() {
		var reply runReply
		rerr := recvReply(b.ctrl, &reply)
		res := &Result{ExitCode: -1, Duration: time.Since(started)}
		// As in run: what the command left behind dies with the init.
		if rerr != nil || !reply.Alone {
			b.kill()
		}
		wsWhy := guard.end()
		<-b.done
		<-copied
		if rerr == nil && reply.Started {
			for _, why := range denied.reasons(b.spec) {
				errCap.Write([]byte("sandbox: " + why + "\n"))
			}
		}
		res.LimitHit = b.cg.limitsHit()
		res.LimitHit = append(res.LimitHit, writeLimits(b.spec, errCap, denied, wsWhy, rerr == nil && reply.Signal == int(unix.SIGXFSZ))...)
		b.mu.Lock()
		res.Denials = b.denials
		b.mu.Unlock()
		switch {
		case rerr == nil:
			res.ExitCode = reply.Exit
			res.SyscallKilled = min(max(reply.SyscallKilled, 0), maxCountedKills)
		case p.killed.Load() || canceled.Load() || timedOut.Load():
			res.ExitCode = 128 + int(unix.SIGKILL)
		}
		b.cleanup()
		p.finish(res, errCap, canceled, timedOut, ctx)
	}()
	return p, nil
}
