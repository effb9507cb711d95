package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// keepTerminal records the state of each terminal among files (a
// `sandbox exec` run from one hands the command its terminal as stdin) and
// returns what puts it back: the modes (echo, the control characters), the
// window size, exclusive mode off where it was off, and output resumed. A
// command in the sandbox can change all of these (tcsetattr, TIOCSWINSZ,
// TIOCEXCL, tcflow), and they are the terminal's, not the sandbox's: they
// outlived it (echo off and Ctrl-C undefined in the shell that ran it).
// A file that is no terminal is left alone; a terminal reached through
// several of files is recorded once.
func keepTerminal(files ...any) (restore func()) {
	type saved struct {
		f       *os.File
		termios *unix.Termios
		size    *unix.Winsize
		excl    bool
	}
	var kept []saved
	seen := map[uint64]bool{}
	for _, x := range files {
		f, ok := x.(*os.File)
		if !ok || f == nil {
			continue
		}
		fd := int(f.Fd())
		t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil {
			continue // not a terminal
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil {
			if seen[st.Rdev] {
				continue
			}
			seen[st.Rdev] = true
		}
		s := saved{f: f, termios: t}
		if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil {
			s.size = ws
		}
		excl, err := unix.IoctlGetInt(fd, unix.TIOCGEXCL)
		s.excl = err == nil && excl != 0
		kept = append(kept, s)
	}
	return func() {
		for _, s := range kept {
			fd := int(s.f.Fd())
			unix.IoctlSetTermios(fd, unix.TCSETS, s.termios)
			if s.size != nil {
				unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, s.size)
			}
			if !s.excl {
				unix.IoctlSetInt(fd, unix.TIOCNXCL, 0)
			}
			unix.IoctlSetInt(fd, unix.TCXONC, unix.TCOON)
		}
	}
}
