package export

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark/audit"
)

// Each record is one RFC 5424 message:
//
//	<PRI>1 TIMESTAMP HOSTNAME bulwark PID ACTION - JSON
//
// with the facility "log audit" (13) and the severity notice for an
// action that succeeded, warning for one denied and error for one that
// failed; TIMESTAMP is the record's time in UTC with microseconds, ACTION
// the record's action (cut to the 32 characters a MSGID may hold), and
// JSON the record's stored line, hash included, without its newline.
// Over TCP each message is framed by its length (octet counting, RFC 6587
// section 3.4.1: "LEN SP MSG"), so a record may hold any byte; over UDP
// each is one datagram.

const facilityLogAudit = 13

// Severities of RFC 5424.
const (
	severityError   = 3
	severityWarning = 4
	severityNotice  = 5
)

// maxDatagram is the largest syslog message sent over UDP (an IPv4 UDP
// payload holds 65507 bytes); a larger record is dropped from a UDP
// export, and counted.
const maxDatagram = 65507

// errTooLarge marks a record that no retry will send.
var errTooLarge = errors.New("the record is too large for one UDP datagram")

type syslogWriter struct {
	network, addr string
	timeout       time.Duration
	host, app     string
	pid           int

	conn net.Conn
}

func (s *syslogWriter) String() string { return "syslog over " + s.network + " to " + s.addr }

// Message returns the RFC 5424 message of r, whose stored line is line.
func Message(r audit.Record, line []byte, host, app string, pid int) []byte {
	sev := severityNotice
	switch r.Outcome {
	case audit.OutcomeDenied:
		sev = severityWarning
	case audit.OutcomeError:
		sev = severityError
	}
	b := make([]byte, 0, len(line)+128)
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(facilityLogAudit*8+sev), 10)
	b = append(b, ">1 "...)
	b = r.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, ' ')
	b = append(b, headerField(host, 255)...)
	b = append(b, ' ')
	b = append(b, headerField(app, 48)...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, ' ')
	b = append(b, headerField(r.Action, 32)...)
	b = append(b, " - "...)
	return append(b, strings.TrimSuffix(string(line), "\n")...)
}

// headerField is s as an RFC 5424 header field: printable US-ASCII other
// than space, at most max characters, "-" when empty.
func headerField(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		if c := s[i]; c > 32 && c < 127 {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

func (s *syslogWriter) write(r audit.Record, line []byte) error {
	msg := Message(r, line, s.host, s.app, s.pid)
	if s.network == "udp" {
		if len(msg) > maxDatagram {
			return errTooLarge
		}
	} else {
		msg = append(strconv.AppendInt(nil, int64(len(msg)), 10), append([]byte{' '}, msg...)...)
	}
	if s.conn != nil && s.network != "udp" && peerClosed(s.conn) {
		s.reset() // the receiver went away: a new stream, not a dead one
	}
	if s.conn == nil {
		c, err := net.DialTimeout(s.network, s.addr, s.timeout)
		if err != nil {
			return err
		}
		s.conn = c
	}
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
		return err
	}
	_, err := s.conn.Write(msg)
	return err
}

// reset drops the connection: after a failed write over TCP a frame may
// have been cut, so the next write starts a new stream.
func (s *syslogWriter) reset() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

func (s *syslogWriter) close() error {
	s.reset()
	return nil
}
