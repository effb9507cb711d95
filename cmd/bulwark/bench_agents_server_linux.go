package main

import (
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// modelServerAttr makes the model server process die with this one
// (Pdeathsig: the thread that starts it is an ordinary runtime thread,
// never ended) and gives it a process group of its own.
func modelServerAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// startPinned starts cmd on the last CPU alone: the process inherits the
// affinity of the thread that forks it, set for the fork and put back.
// Its runtime then sees one CPU (GOMAXPROCS 1). With fewer than two CPUs
// to choose from it starts cmd as it is and says it did not pin it.
func startPinned(cmd *exec.Cmd) (pinned bool, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var was unix.CPUSet
	if err := unix.SchedGetaffinity(0, &was); err != nil {
		return false, err
	}
	last := -1
	for c := range 1024 {
		if was.IsSet(c) {
			last = c
		}
	}
	if was.Count() < 2 {
		return false, cmd.Start() // nothing to pin apart
	}
	var one unix.CPUSet
	one.Set(last)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		return false, err
	}
	err = cmd.Start()
	if err2 := unix.SchedSetaffinity(0, &was); err2 != nil && err == nil {
		// This thread cannot go back: end it with the goroutine (it stays
		// locked) rather than leave a runtime thread on one CPU, and the
		// process with it (its Pdeathsig would anyway).
		runtime.LockOSThread()
		cmd.Process.Kill()
		cmd.Wait()
		return false, err2
	}
	return err == nil, err
}
