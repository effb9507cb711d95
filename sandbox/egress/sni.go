package egress

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"time"
)

// A tunnel passed through untouched (no secret is bound) carries TLS the
// proxy does not terminate: the name the client asks the server for in its
// ClientHello (SNI) is not the CONNECT host the allowlist judged unless the
// proxy looks. Behind a shared front end (a CDN) the allowed host's address
// answered for any name (domain fronting, a red team: CONNECT allowed.test,
// SNI evil.test). tunnelName reads the client's first TLS record and the
// name in it; the tunnel is refused when that name is another host. The
// name inside the encrypted session (the HTTP Host) stays out of sight
// without terminating TLS, which only a bound secret makes the proxy do.

// maxClientHello bounds what is read of a ClientHello: one TLS record.
const maxClientHello = 5 + 16384

// errNameRead stops the handshake once the ClientHello was read.
var errNameRead = errors.New("egress: ClientHello read")

// tunnelName returns the server name of the ClientHello that starts r, if
// r starts with a TLS handshake record: tls is false when it does not, or
// sent nothing within firstByteWait (a protocol where the server speaks
// first). r is left unread (peeked): it must be large enough for a record
// (maxClientHello). down's read deadline is set for the wait and cleared.
func tunnelName(down net.Conn, r *bufio.Reader) (name string, isTLS bool, err error) {
	down.SetReadDeadline(time.Now().Add(firstByteWait))
	defer down.SetReadDeadline(time.Time{})
	head, err := r.Peek(5)
	var ne net.Error
	switch {
	case len(head) > 0 && head[0] != tlsRecordHandshake:
		return "", false, nil
	case errors.As(err, &ne) && ne.Timeout() && len(head) == 0:
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	down.SetReadDeadline(time.Now().Add(10 * time.Second))
	n := 5 + (int(head[3])<<8 | int(head[4]))
	if n > maxClientHello {
		return "", true, errors.New("a TLS record longer than TLS allows")
	}
	record, err := r.Peek(n)
	if err != nil {
		return "", true, err
	}
	var got *tls.ClientHelloInfo
	srv := tls.Server(recordConn{r: strings.NewReader(string(record))}, &tls.Config{
		GetConfigForClient: func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
			got = chi
			return nil, errNameRead
		},
	})
	srv.Handshake()
	if got == nil {
		// Not a ClientHello in one record: no name can be told.
		return "", true, errors.New("the first TLS record is no ClientHello the proxy can read")
	}
	return got.ServerName, true, nil
}

// sameHost says whether the TLS name asked for is the CONNECT host.
func sameHost(sni, host string) bool {
	return strings.EqualFold(strings.TrimSuffix(sni, "."), strings.TrimSuffix(host, "."))
}

// recordConn is a net.Conn that reads the bytes of r and discards writes:
// what tls.Server needs to parse a ClientHello it was handed.
type recordConn struct {
	net.Conn
	r io.Reader
}

func (c recordConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c recordConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c recordConn) Close() error                     { return nil }
func (c recordConn) SetDeadline(time.Time) error      { return nil }
func (c recordConn) SetReadDeadline(time.Time) error  { return nil }
func (c recordConn) SetWriteDeadline(time.Time) error { return nil }
func (c recordConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c recordConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
