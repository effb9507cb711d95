//go:build !linux

package main

import (
	"errors"
	"os/exec"
	"syscall"
)

// modelServerAttr gives the model server process a process group of its
// own; it dies with this one when its stdin ends.
func modelServerAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// startPinned is only on Linux.
func startPinned(*exec.Cmd) error { return errors.New("pinning the model server needs Linux") }
