//go:build !linux

package main

import (
	"os/exec"
	"syscall"
)

// modelServerAttr gives the model server process a process group of its
// own; it dies with this one when its stdin ends.
func modelServerAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// startPinned starts cmd unpinned: pinning is only on Linux.
func startPinned(cmd *exec.Cmd) (pinned bool, err error) { return false, cmd.Start() }
