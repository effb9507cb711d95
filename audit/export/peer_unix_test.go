//go:build unix

package export

import (
	"net"
	"testing"
	"time"
)

// A receiver that closed the connection is seen before the next write (a
// write would succeed into a buffer nobody reads, and the record would be
// lost); one that is there but silent, as syslog receivers are, is not.
func TestPeerClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer := <-accepted
	if peerClosed(c) {
		t.Fatal("a silent, open receiver reads as closed")
	}
	peer.Close()
	for i := 0; !peerClosed(c); i++ {
		if i > 500 { // a hang guard, not a speed assertion
			t.Fatal("a receiver that closed the connection reads as open")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
