package transport

import (
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// The connections StdTransport and a Lean over a transport with no dial
// function of its own dial to a model server probe a silent peer after
// 30 s, as net/http's do, and leave the probes' interval and count as the
// system sets them (modelDialer).
func TestModelDialerKeepAlive(t *testing.T) {
	ln := closingListener(t)
	sysFD, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(sysFD)
	sysIntvl, err1 := syscall.GetsockoptInt(sysFD, syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL)
	sysCnt, err2 := syscall.GetsockoptInt(sysFD, syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}

	std := &http.Transport{}
	for name, dial := range map[string]func() (net.Conn, error){
		"StdTransport": func() (net.Conn, error) { return StdTransport().DialContext(t.Context(), "tcp", ln.Addr().String()) },
		"Lean's own":   func() (net.Conn, error) { return NewLean(std).dial(t.Context(), "tcp", ln.Addr().String()) },
	} {
		c, err := dial()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		raw, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var on, idle, intvl, cnt int
		var errs [4]error
		raw.Control(func(fd uintptr) {
			on, errs[0] = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
			idle, errs[1] = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
			intvl, errs[2] = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL)
			cnt, errs[3] = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT)
		})
		c.Close()
		if errs != [4]error{} {
			t.Fatalf("%s: %v", name, errs)
		}
		if on != 1 || idle != 30 || intvl != sysIntvl || cnt != sysCnt {
			t.Errorf("%s: keep-alive %d, idle %d s, interval %d s, count %d; want 1, 30, the system's %d, %d", name, on, idle, intvl, cnt, sysIntvl, sysCnt)
		}
	}
}

// A dial on loopback with net/http's default dialer and with modelDialer
// (BENCHMARKS.md, session 34): run interleaved, e.g. -count 1 in a loop.
func BenchmarkModelDial(b *testing.B) {
	ln := closingListener(b)
	for name, d := range map[string]*net.Dialer{
		"net-http": {Timeout: leanDialTimeout, KeepAlive: 30 * time.Second},
		"model":    modelDialer,
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				c, err := d.DialContext(b.Context(), "tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

// closingListener listens on loopback until tb ends, closing each
// connection it accepts: dials to it succeed.
func closingListener(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}
