package initproc

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// The forwarder uses sockets through x/sys and os (whose files use the
// runtime's poller for non-blocking descriptors) rather than package net,
// which would make this package initialize late (see the package comment).

// startForwarder listens on 127.0.0.1:3128 inside the sandbox and carries
// each connection to the host's egress proxy through its Unix socket, which
// it reaches through dirFd (a directory the host opened for it).
func startForwarder(dirFd int, sock string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("init: proxy forwarder: %w", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: ProxyPort, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		return fmt.Errorf("init: proxy forwarder: %w", err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		unix.Close(fd)
		return fmt.Errorf("init: proxy forwarder: %w", err)
	}
	l := os.NewFile(uintptr(fd), "forwarder")
	rc, err := l.SyscallConn()
	if err != nil {
		l.Close()
		return fmt.Errorf("init: proxy forwarder: %w", err)
	}
	path := fmt.Sprintf("/proc/self/fd/%d/%s", dirFd, sock)
	go func() {
		for {
			conn, aerr := -1, error(nil)
			err := rc.Read(func(fd uintptr) bool {
				conn, _, aerr = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
				return aerr != unix.EAGAIN
			})
			if err != nil {
				return
			}
			if aerr == nil {
				go forward(conn, path)
			}
		}
	}()
	return nil
}

// forward carries one connection both ways until both sides are done.
func forward(conn int, path string) {
	c := os.NewFile(uintptr(conn), "client")
	defer c.Close()
	ufd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	if err := unix.Connect(ufd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(ufd)
		return
	}
	unix.SetNonblock(ufd, true)
	u := os.NewFile(uintptr(ufd), "proxy")
	defer u.Close()
	done := make(chan struct{})
	go func() { io.Copy(u, c); closeWrite(u); close(done) }()
	io.Copy(c, u)
	closeWrite(c)
	<-done
}

func closeWrite(f *os.File) {
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.Shutdown(int(fd), unix.SHUT_WR) })
	}
}
