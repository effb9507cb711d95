package egress

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// clientHello returns the first TLS record a client asking for name sends.
func clientHello(t testing.TB, name string) []byte {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go tls.Client(a, &tls.Config{ServerName: name, InsecureSkipVerify: true}).Handshake()
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReaderSize(b, maxClientHello)
	head, err := r.Peek(5)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Peek(5 + (int(head[3])<<8 | int(head[4])))
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), rec...)
}

// tunnelNameOf runs tunnelName over in, sent by a client that then closes.
func tunnelNameOf(in []byte) (string, bool, error) {
	down := recordConn{r: bytes.NewReader(in)}
	return tunnelName(down, bufio.NewReaderSize(down, maxClientHello))
}

func TestTunnelName(t *testing.T) {
	for _, name := range []string{"allowed.test", "evil.test", "xn--bcher-kva.example"} {
		got, isTLS, err := tunnelNameOf(clientHello(t, name))
		if err != nil || !isTLS || got != name {
			t.Errorf("a ClientHello for %s: %q, %v, %v", name, got, isTLS, err)
		}
	}
	if got, isTLS, err := tunnelNameOf([]byte("GET / HTTP/1.1\r\n\r\n")); isTLS || err != nil || got != "" {
		t.Errorf("HTTP: %q, %v, %v; want no TLS", got, isTLS, err)
	}
	// A handshake record that is no ClientHello, one cut short, one
	// longer than TLS allows: TLS whose name cannot be read.
	for _, in := range [][]byte{
		{0x16, 3, 1, 0, 4, 2, 0, 0, 0},
		clientHello(t, "allowed.test")[:40],
		{0x16, 3, 1, 0xff, 0xff},
	} {
		if _, isTLS, err := tunnelNameOf(in); !isTLS || err == nil {
			t.Errorf("%x: isTLS %v, err %v; want TLS refused", in, isTLS, err)
		}
	}
}

func FuzzTunnelName(f *testing.F) {
	f.Add(clientHello(f, "allowed.test"))
	f.Add([]byte{0x16, 3, 1, 0, 4, 2, 0, 0, 0})
	f.Add([]byte("SSH-2.0-x\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		name, isTLS, err := tunnelNameOf(in)
		if len(in) > 0 && in[0] != tlsRecordHandshake && (isTLS || err != nil || name != "") {
			t.Fatalf("not TLS (%#x): %q, %v, %v", in[0], name, isTLS, err)
		}
		if name != "" && (!isTLS || err != nil) {
			t.Fatalf("a name %q with isTLS %v, err %v", name, isTLS, err)
		}
	})
}
