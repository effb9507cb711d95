package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns both ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// A command run by `sandbox exec` from a terminal is handed the terminal,
// and can change its modes, size and exclusivity: what it changed ends
// with it (echo stayed off and Ctrl-C undefined in the shell that ran it;
// a red team).
func TestSandboxExecPutsTheTerminalBack(t *testing.T) {
	needSandbox(t)
	_, tty := openPTY(t)
	fd := int(tty.Fd())
	if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100}); err != nil {
		t.Fatal(err)
	}
	before, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if before.Lflag&unix.ECHO == 0 || before.Cc[unix.VINTR] == 0 {
		t.Fatalf("a new terminal without echo or an interrupt character: %+v", before)
	}
	const change = `
import termios, fcntl, struct
a = termios.tcgetattr(0)
a[3] &= ~termios.ECHO
a[6][termios.VINTR] = 0
termios.tcsetattr(0, termios.TCSANOW, a)
fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 1, 1, 0, 0))
fcntl.ioctl(0, termios.TIOCEXCL)
b = termios.tcgetattr(0)
print("changed" if not b[3] & termios.ECHO else "unchanged")
`
	cmd := bulwarkCmd(t, nil, "sandbox", "exec", "--workspace", t.TempDir(), "--allow-exec", "python3", "--", "python3", "-c", change)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &out, &errb
	if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "changed") || strings.Contains(out.String(), "unchanged") {
		t.Fatalf("the command could not change the terminal (the test would prove nothing): %v\n%s%s", err, out.String(), errb.String())
	}
	after, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag || after.Cc != before.Cc || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
		t.Errorf("the terminal's modes after the sandbox: %+v, want as before %+v", after, before)
	}
	if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err != nil || ws.Row != 40 || ws.Col != 100 {
		t.Errorf("the terminal's size after the sandbox: %+v (%v), want 40x100", ws, err)
	}
	if excl, err := unix.IoctlGetInt(fd, unix.TIOCGEXCL); err != nil || excl != 0 {
		t.Errorf("the terminal is exclusive after the sandbox (%d, %v): nobody else may open it", excl, err)
	}
}
