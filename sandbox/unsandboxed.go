package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// Disabled reports whether BULWARK_SANDBOX=off was set: commands then run
// without any sandbox, which Run logs loudly every time.
func Disabled() bool {
	return strings.EqualFold(strings.TrimSpace(os.Getenv("BULWARK_SANDBOX")), "off")
}

// UnsandboxedWarning is the line shown whenever a command runs unsandboxed.
const UnsandboxedWarning = "WARNING: BULWARK_SANDBOX=off: running the command WITHOUT the sandbox (no isolation, no allowlist, no limits but the timeout)"

// runUnsandboxed runs cmd as a plain child process, for BULWARK_SANDBOX=off.
// Only the timeout, the output caps and the clean environment still hold.
func runUnsandboxed(ctx context.Context, spec Spec, cmd []string) (*Result, error) {
	slog.Warn(UnsandboxedWarning, "command", cmd[0])
	dir := spec.Workspace
	if dir == "" {
		d, err := os.MkdirTemp("", "bulwark-ws-")
		if err != nil {
			return nil, bulwark.E(bulwark.Internal, "sandbox.Run", "cannot create a workspace", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
	defer cancel()
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	c.Dir = dir
	env := commandEnv(spec)
	for i, e := range env {
		if strings.HasPrefix(e, "HOME=") {
			env[i] = "HOME=" + dir
		}
	}
	c.Env = env
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	var outBuf, errBuf bytes.Buffer
	outW, errW := spec.Stdout, spec.Stderr
	if outW == nil {
		outW = &outBuf
	}
	if errW == nil {
		errW = &errBuf
	}
	outCap := tapped(outW, spec.OutputLimit, spec.Output, false)
	errCap := tapped(errW, spec.OutputLimit, spec.Output, true)
	c.Stdin, c.Stdout, c.Stderr = spec.Stdin, outCap, errCap
	start := time.Now()
	err := c.Run()
	res := &Result{ExitCode: -1, Duration: time.Since(start), Unsandboxed: true}
	res.TimedOut = errors.Is(ctx.Err(), context.DeadlineExceeded)
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
		res.ExitCode = 127
		fmt.Fprintf(errCap, "sandbox: %s: %v\n", cmd[0], err)
	}
	if outCap.dropped || errCap.dropped {
		res.LimitHit = append(res.LimitHit, "output")
	}
	res.Stdout, res.Stderr = outBuf.Bytes(), errBuf.Bytes()
	return res, nil
}

// ParseSize parses a size in bytes: a number with an optional unit, k, M, G
// (powers of 1000) or KiB, MiB, GiB (powers of 1024); "512MiB", "1G", "4096".
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (KiB, MiB, GiB, k, M, G)", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30,
	}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("size %q: unknown unit %q", s, unit)
	}
	return int64(f * mult), nil
}
