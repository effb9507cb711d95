// Package sigsysprobe gives the tests of the sandbox's seccomp kill a
// program that the filter kills, on whatever host they run.
//
// The filter kills (SECCOMP_RET_KILL_PROCESS, SIGSYS) only system calls of
// another architecture's ABI: on x86-64, int 0x80 (the i386 ABI). Some
// hosts do not run i386 system calls at all (a kernel without IA32
// emulation, or a hypervisor that faults int 0x80, as the project's VMs
// do): there int 0x80 is a general protection fault (SIGSEGV) before
// seccomp sees it, with or without a sandbox, and no process can reach
// the filter's kill. Program then gives a process that sends itself
// SIGSYS, which the sandbox's init sees exactly as it sees a process the
// filter killed, so the counting is still tested.
package sigsysprobe

import (
	"bytes"
	"errors"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"testing"
)

// I386 is a Python program that makes getpid through the i386 ABI
// (mov eax, 20; int 0x80; ret) and prints Escaped if the call returned.
const I386 = `import ctypes, mmap
code = bytes([0xb8, 0x14, 0, 0, 0, 0xcd, 0x80, 0xc3])
buf = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
buf.write(code)
addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
ctypes.CFUNCTYPE(ctypes.c_int)(addr)()
print("` + Escaped + `")
`

// Escaped is what I386 prints when its system call ran.
const Escaped = "ESCAPED: the i386 system call returned"

// SelfKill is a Python program that ends by SIGSYS sent to itself.
const SelfKill = `import os, signal
os.kill(os.getpid(), signal.SIGSYS)
`

// hostRunsI386 runs I386 outside any sandbox, once.
var hostRunsI386 = sync.OnceValues(func() (bool, error) {
	if runtime.GOARCH != "amd64" {
		return false, nil
	}
	var out bytes.Buffer
	cmd := exec.Command("python3", "-c", I386)
	cmd.Stdout = &out
	err := cmd.Run()
	if err == nil && bytes.Contains(out.Bytes(), []byte(Escaped)) {
		return true, nil
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGSEGV {
			return false, nil
		}
	}
	return false, errors.New("python3 running the i386 probe outside the sandbox neither returned nor faulted: " + errString(err) + ", output " + out.String())
})

func errString(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// Program returns the program for a test that wants a process the
// sandbox's seccomp filter kills: I386 where the host runs i386 system
// calls, else SelfKill (and t says so).
func Program(t testing.TB) string {
	t.Helper()
	runs, err := hostRunsI386()
	if err != nil {
		t.Fatal(err)
	}
	if runs {
		return I386
	}
	t.Log("this host does not run i386 system calls (int 0x80 faults outside the sandbox too), so no process can reach the seccomp filter's kill: a process that sends itself SIGSYS stands in for one it killed")
	return SelfKill
}
