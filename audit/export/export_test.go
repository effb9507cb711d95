package export

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/secret"
)

const canary = "sk-canary-7f3a9c1e5b2d4f60a8e1"

// testChains opens chains in a temporary folder that export to e, with a
// redactor that knows the canary secret.
func testChains(t *testing.T, e audit.Exporter) (*audit.Chains, audit.FileDir) {
	t.Helper()
	dir := audit.FileDir{Path: t.TempDir()}
	return openChains(t, dir, e), dir
}

func openChains(t *testing.T, dir audit.Backend, e audit.Exporter) *audit.Chains {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	red := secret.NewRedactor()
	red.Add("API_TOKEN", canary)
	c, err := audit.OpenChains(t.Context(), dir, audit.Options{SigningKey: key, CheckpointEvery: 5, Redactor: red, Export: e})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// appendSome appends n records spread over the system chain and two
// tenants, some of which carry the canary secret.
func appendSome(t *testing.T, c *audit.Chains, n int) {
	t.Helper()
	tenants := []string{"", "tn_a", "tn_b"}
	for i := range n {
		r := audit.Record{TenantID: tenants[i%3], Actor: "user:u1", Action: "tool.call", Target: "task_" + strconv.Itoa(i),
			Outcome: audit.OutcomeOK, Details: map[string]string{"summary": "token=" + canary, "i": strconv.Itoa(i)}}
		if i%4 == 0 {
			r.Outcome, r.Action = audit.OutcomeDenied, "auth.login_failed"
		}
		if err := c.Append(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestFileExportMatchesChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	tg, err := Parse("file:" + path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(tg, nil, Options{Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	c, dir := testChains(t, e)
	appendSome(t, c, 30)
	if err := e.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(canary)) {
		t.Fatal("the export holds the canary secret in clear")
	}
	rep, err := Check(t.Context(), bytes.NewReader(b), dir)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	// 30 records and the two chain_create records of the tenants.
	if rep.Records != 32 || rep.Chains != 3 || rep.Missing != 0 {
		t.Errorf("Check = %+v, want 32 records of 3 chains, none missing", rep)
	}

	// Each exported line is the stored line: the file chain holds the same bytes.
	stored, err := os.ReadFile(filepath.Join(dir.Path, "tenants", "tn_a.log"))
	if err == nil && !bytes.Contains(b, firstLine(stored)) {
		t.Errorf("the export does not hold tenant tn_a's first stored line %q", firstLine(stored))
	}
}

func firstLine(b []byte) []byte {
	l, _, _ := bytes.Cut(b, []byte("\n"))
	return l
}

// TestCheckFindsChanges changes the export in the ways a forger would and
// expects Check to refuse each.
func TestCheckFindsChanges(t *testing.T) {
	var buf syncBuffer
	e, err := New(Target{Kind: "stdout"}, &buf, Options{Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	c, dir := testChains(t, e)
	appendSome(t, c, 12)
	e.Close(t.Context())
	good := buf.String()
	lines := strings.SplitAfter(strings.TrimSuffix(good, "\n"), "\n")

	// A record whose hash is recomputed after a change passes its own
	// check but not the chain's.
	forged, err := audit.DecodeRecord([]byte(lines[3]))
	if err != nil {
		t.Fatal(err)
	}
	forged.Outcome = audit.OutcomeOK
	forged.Details["forged"] = "1"
	forged.Hash = audit.ComputeHash(&forged)
	forgedLine, err := audit.EncodeRecord(forged)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, export string }{
		{"a changed field", strings.Replace(good, `"actor":"user:u1"`, `"actor":"user:u2"`, 1)},
		{"a rehashed record", strings.Replace(good, lines[3], string(forgedLine), 1)},
		{"two records swapped", strings.Replace(good, lines[3]+lines[4]+lines[5]+lines[6], lines[6]+lines[4]+lines[5]+lines[3], 1)},
		{"an invented chain", good + strings.Replace(lines[1], `"tenant":""`, `"tenant":"tn_zz"`, 1)},
	}
	for _, tc := range cases {
		if tc.export == good {
			t.Fatalf("%s: the case changes nothing", tc.name)
		}
		if _, err := Check(t.Context(), strings.NewReader(tc.export), dir); err == nil {
			t.Errorf("Check(export with %s) = nil error, want one", tc.name)
		}
	}
	if _, err := Check(t.Context(), strings.NewReader(good), dir); err != nil {
		t.Errorf("Check(the export as written) = %v", err)
	}
	// A line dropped from the export is a gap, not a forgery.
	rep, err := Check(t.Context(), strings.NewReader(strings.Replace(good, lines[5], "", 1)), dir)
	if err != nil || rep.Missing != 1 || rep.After != 0 {
		t.Errorf("Check(export without one line) = %+v, %v; want 1 missing", rep, err)
	}
	// The newest lines cut from the copy (the tracks an intruder covers
	// first) are counted too: the chains hold records after them.
	rep, err = Check(t.Context(), strings.NewReader(strings.Join(lines[:len(lines)-3], "")), dir)
	if err != nil || rep.After != 3 {
		t.Errorf("Check(export without its last 3 lines) = %+v, %v; want 3 after the last exported", rep, err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rfc5424 matches the messages Message writes: PRI, version, timestamp,
// host, app, procid, msgid, no structured data, then the JSON.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) ([!-~]{1,255}) ([!-~]{1,48}) ([!-~]{1,128}) ([!-~]{1,32}) - (\{.*\})$`)

// parseSyslog checks msg against RFC 5424's grammar and returns its
// record, with the severity its PRI gives.
func parseSyslog(t *testing.T, msg []byte) (audit.Record, int) {
	t.Helper()
	m := rfc5424.FindSubmatch(msg)
	if m == nil {
		t.Fatalf("not an RFC 5424 message as written: %q", msg)
	}
	pri, _ := strconv.Atoi(string(m[1]))
	if pri/8 != facilityLogAudit {
		t.Errorf("facility %d, want %d (log audit)", pri/8, facilityLogAudit)
	}
	r, err := audit.DecodeRecord(m[7])
	if err != nil {
		t.Fatalf("the message's JSON: %v", err)
	}
	if string(m[6]) != headerField(r.Action, 32) {
		t.Errorf("MSGID %q, want the action %q", m[6], r.Action)
	}
	if ts, _ := time.Parse(time.RFC3339Nano, string(m[2])); !ts.Equal(r.Time.Truncate(time.Microsecond)) {
		t.Errorf("TIMESTAMP %s, want the record's %s", m[2], r.Time)
	}
	return r, pri % 8
}

// readFrames reads octet-counted frames (RFC 6587 3.4.1) from c, sending
// each message to out, until c ends.
func readFrames(c net.Conn, out chan<- []byte) error {
	br := bufio.NewReader(c)
	for {
		n, err := br.ReadString(' ')
		if err != nil {
			return err
		}
		size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
		if err != nil || size <= 0 {
			return fmt.Errorf("bad frame length %q", n)
		}
		msg := make([]byte, size)
		if _, err := io.ReadFull(br, msg); err != nil {
			return err
		}
		out <- msg
	}
}

func TestSyslogTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	msgs := make(chan []byte, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go readFrames(c, msgs)
		}
	}()
	tg, err := Parse("syslog:tcp://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(tg, nil, Options{Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	c, dir := testChains(t, e)
	appendSome(t, c, 9)
	checkSyslog(t, msgs, 9+2, dir)
	e.Close(t.Context())
}

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	msgs := make(chan []byte, 100)
	go func() {
		buf := make([]byte, 70000)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			msgs <- bytes.Clone(buf[:n])
		}
	}()
	tg, err := Parse("syslog:udp://" + pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(tg, nil, Options{Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	c, dir := testChains(t, e)
	appendSome(t, c, 9)
	checkSyslog(t, msgs, 9+2, dir)
	e.Close(t.Context())
}

// checkSyslog takes want messages from msgs, parses each as RFC 5424, and
// checks the records they carry against the chains of dir.
func checkSyslog(t *testing.T, msgs <-chan []byte, want int, dir audit.Backend) {
	t.Helper()
	var export bytes.Buffer
	for range want {
		var msg []byte
		select {
		case msg = <-msgs:
		case <-time.After(20 * time.Second):
			t.Fatalf("got %d syslog messages, want %d", bytes.Count(export.Bytes(), []byte("\n")), want)
		}
		if bytes.Contains(msg, []byte(canary)) {
			t.Fatal("a syslog message holds the canary secret in clear")
		}
		r, sev := parseSyslog(t, msg)
		if wantSev := map[string]int{audit.OutcomeOK: severityNotice, audit.OutcomeDenied: severityWarning}[r.Outcome]; sev != wantSev {
			t.Errorf("record %d (%s) has severity %d, want %d", r.Seq, r.Outcome, sev, wantSev)
		}
		export.Write(msg) // as a collector stores it, header and all
		export.WriteByte('\n')
	}
	rep, err := Check(t.Context(), &export, dir)
	if err != nil || rep.Records != want || rep.Missing != 0 {
		t.Errorf("Check(syslog messages) = %+v, %v; want %d records, none missing", rep, err, want)
	}
}

// TestHostilePeerDoesNotStall points the export at a syslog peer that
// accepts and never reads: appends go on (the queue drops and counts),
// and once the peer reads, the export resumes in order.
func TestHostilePeerDoesNotStall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var reading atomic.Bool
	var stalled atomic.Int64 // connections held open reading nothing
	release := make(chan struct{})
	msgs := make(chan []byte, 100000)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				if !reading.Load() {
					stalled.Add(1)
					c.(*net.TCPConn).SetReadBuffer(4096) // a small window: the sender fills it soon
					<-release                            // hold the connection open, reading nothing
					c.Close()
					stalled.Add(-1)
					return
				}
				readFrames(c, msgs)
			}()
		}
	}()
	var dropped, failed atomic.Int64
	var logged syncBuffer
	e, err := New(Target{Kind: "syslog", Network: "tcp", Addr: ln.Addr().String()}, nil, Options{
		Queue: 8, Timeout: 200 * time.Millisecond, Backoff: 10 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&logged, nil)),
		Counters: Counters{
			Dropped: func(n int) { dropped.Add(int64(n)) },
			Failed:  func() { failed.Add(1) },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := openChains(t, audit.NewMemoryDir(), e) // no fsync: the test is about the peer

	// Enough bytes to fill the socket buffers many times over: the
	// writer blocks on the peer, and Append must not.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	big := strings.Repeat("x", 16<<10)
	for i := range 600 {
		r := audit.Record{TenantID: "tn_a", Actor: "user:u1", Action: "tool.call", Outcome: audit.OutcomeOK,
			Details: map[string]string{"pad": big, "i": strconv.Itoa(i)}}
		if err := c.Append(ctx, r); err != nil {
			t.Fatalf("Append %d with a stalled export peer: %v", i, err)
		}
	}
	if dropped.Load() == 0 {
		t.Fatal("nothing was dropped although the peer reads nothing")
	}
	if !strings.Contains(logged.String(), "records are dropped") {
		t.Errorf("the drop was not logged; log: %.300s", logged.String())
	}

	// The peer comes back to its senses: later records reach it, in order.
	reading.Store(true)
	close(release)
	// The late records go in once the stalled connections are closed (a
	// record written into one before its close is lost with it: TCP
	// syslog has no acknowledgement) and the queue has drained: the
	// writer may be waiting out a backoff that grew while the peer
	// stalled (up to 30 s on a loaded machine), and records appended to a
	// full queue are dropped, which is right and not what this checks.
	for stalled.Load() > 0 || len(e.queue) > 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("the export did not resume: %d stalled connections, %d records queued", stalled.Load(), len(e.queue))
		case <-time.After(10 * time.Millisecond):
		}
	}
	for i := range 3 {
		r := audit.Record{TenantID: "tn_a", Actor: "user:u1", Action: "late.record", Outcome: audit.OutcomeOK,
			Details: map[string]string{"i": strconv.Itoa(i)}}
		if err := c.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var last uint64
	for late := 0; late < 3; {
		var msg []byte
		select {
		case msg = <-msgs:
		case <-ctx.Done():
			t.Fatalf("the export did not resume: %d late records arrived", late)
		}
		r, _ := parseSyslog(t, msg)
		if r.Seq <= last {
			t.Fatalf("record %d after record %d: out of order", r.Seq, last)
		}
		last = r.Seq
		if r.Action == "late.record" {
			late++
		}
	}
	if failed.Load() == 0 {
		t.Error("no failed write was counted against the stalled peer")
	}
	e.Close(ctx)
}

// TestResumeAfterOutage starts the export with no syslog server up: the
// records wait in the queue and all arrive, in order, once it is.
func TestResumeAfterOutage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens there now
	e, err := New(Target{Kind: "syslog", Network: "tcp", Addr: addr}, nil, Options{Log: quiet(), Backoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c, dir := testChains(t, e)
	appendSome(t, c, 6)
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	defer ln.Close()
	msgs := make(chan []byte, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go readFrames(c, msgs)
		}
	}()
	checkSyslog(t, msgs, 6+2, dir)
	e.Close(t.Context())
}

func TestParse(t *testing.T) {
	good := map[string]Target{
		"stdout":                         {Kind: "stdout"},
		"file:/var/log/a.jsonl":          {Kind: "file", Path: "/var/log/a.jsonl"},
		"syslog:tcp://siem:514":          {Kind: "syslog", Network: "tcp", Addr: "siem:514"},
		"syslog:udp://10.0.0.1:514":      {Kind: "syslog", Network: "udp", Addr: "10.0.0.1:514"},
		"syslog:siem.example:6514":       {Kind: "syslog", Network: "tcp", Addr: "siem.example:6514"},
		"syslog:udp://[2001:db8::1]:514": {Kind: "syslog", Network: "udp", Addr: "[2001:db8::1]:514"},
	}
	for in, want := range good {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "stderr", "file:", "syslog:", "syslog:siem", "syslog:http://siem:514", "syslog:tcp://siem", "syslog:tcp://u@siem:514", "syslog:tcp://siem:514/x"} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", in, got)
		}
	}
}

// TestCheckFindsForgedSyslogHeaders: a syslog message whose header was
// changed (the severity of a denied action lowered, another action as
// its MSGID, another time) is refused even though its JSON is the stored
// record: a SIEM alerts on those fields.
func TestCheckFindsForgedSyslogHeaders(t *testing.T) {
	var buf syncBuffer
	e, err := New(Target{Kind: "stdout"}, &buf, Options{Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	c, dir := testChains(t, e)
	appendSome(t, c, 8)
	e.Close(t.Context())
	var msgs []string
	denied := -1
	for _, line := range strings.SplitAfter(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		r, err := audit.DecodeRecord([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		if r.Outcome == audit.OutcomeDenied && denied < 0 {
			denied = len(msgs)
		}
		msgs = append(msgs, string(Message(r, []byte(line), "host-1", "bulwark", 42)))
	}
	good := strings.Join(msgs, "\n") + "\n"
	if _, err := Check(t.Context(), strings.NewReader(good), dir); err != nil {
		t.Fatalf("Check(the syslog messages as sent) = %v", err)
	}
	d := msgs[denied]
	wantPri := "<" + strconv.Itoa(facilityLogAudit*8+severityWarning) + ">"
	for name, forged := range map[string]string{
		"a lowered severity": strings.Replace(d, wantPri, "<"+strconv.Itoa(facilityLogAudit*8+severityNotice)+">", 1),
		"another MSGID":      strings.Replace(d, " auth.login_failed - ", " auth.login - ", 1),
		"another time":       d[:len(wantPri)+2] + "1999" + d[len(wantPri)+6:],
	} {
		if forged == d {
			t.Fatalf("%s: the case changes nothing", name)
		}
		if _, err := Check(t.Context(), strings.NewReader(strings.Replace(good, d, forged, 1)), dir); err == nil {
			t.Errorf("Check(a syslog message with %s) = nil error, want one", name)
		}
	}
}

// TestFileExportRefusesLinksAndOpenFiles: the export file is never
// reached through a symlink (one planted at the path would have the
// server append to whatever it names: the master key, the store), and an
// existing file others may read or write is refused, since the export is
// the audit log; a file shared with a group (a log shipper's) is fine.
func TestFileExportRefusesLinksAndOpenFiles(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "master.key")
	os.WriteFile(victim, []byte("1 c2VjcmV0\n"), 0o600)
	link := filepath.Join(dir, "audit.jsonl")
	os.Symlink(victim, link)
	if e, err := New(Target{Kind: "file", Path: link}, nil, Options{Log: quiet()}); err == nil {
		e.Close(t.Context())
		t.Error("New(file at a symlink) = nil error, want a refusal")
	}
	if b, _ := os.ReadFile(victim); string(b) != "1 c2VjcmV0\n" {
		t.Errorf("the symlink's target was changed: %q", b)
	}
	for mode, ok := range map[os.FileMode]bool{0o644: false, 0o606: false, 0o640: true, 0o600: true} {
		p := filepath.Join(dir, "export-"+strconv.FormatUint(uint64(mode), 8))
		os.WriteFile(p, nil, 0o600)
		os.Chmod(p, mode)
		e, err := New(Target{Kind: "file", Path: p}, nil, Options{Log: quiet()})
		if err == nil {
			e.Close(t.Context())
		}
		if (err == nil) != ok {
			t.Errorf("New(file of mode %o) = %v, want accepted %v", mode, err, ok)
		}
	}
}

// TestSyslogHeaderInjection: what a record carries (its action, its
// details) and the host name cannot add a field, a line, a structured
// data element or a BOM to the RFC 5424 message: the header fields are
// one printable token each, and the JSON escapes the rest.
func TestSyslogHeaderInjection(t *testing.T) {
	evil := "a b\nc]\"d\xef\xbb\xbf\x00[x@1 k=\"v\"]" + strings.Repeat("z", 300)
	r := audit.Record{Seq: 1, Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), Actor: "user:u", Action: evil,
		Outcome: audit.OutcomeDenied, Details: map[string]string{evil: evil}}
	line, err := audit.EncodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	msg := Message(r, line, "host\n<13>1 forged", "app ]", 7)
	// (A BOM inside the JSON is a character of a string; the MSG starts
	// with '{', never a BOM, as the pattern below checks.)
	if bytes.ContainsAny(msg, "\n\r\x00") || bytes.Contains(msg[:bytes.Index(msg, []byte(" - {"))], []byte("\xef\xbb\xbf")) {
		t.Errorf("the message holds a line break or NUL, or its header a BOM: %q", msg)
	}
	m := rfc5424.FindSubmatch(msg)
	if m == nil {
		t.Fatalf("not one RFC 5424 message: %q", msg)
	}
	if len(m[6]) > 32 || !bytes.Equal(m[7], bytes.TrimSuffix(line, []byte("\n"))) {
		t.Errorf("MSGID %q (at most 32), message %q (want the stored line)", m[6], m[7])
	}
	if !bytes.Contains(msg, []byte(" - {")) {
		t.Errorf("the structured data is not the nil value: %q", msg)
	}
}

// TestSyslogUDPDropsOversized: a record too large for one datagram is
// dropped and counted, and the records after it are still sent (it does
// not hold up the queue with retries).
func TestSyslogUDPDropsOversized(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var dropped atomic.Int64
	e, err := New(Target{Kind: "syslog", Network: "udp", Addr: pc.LocalAddr().String()}, nil,
		Options{Log: quiet(), Counters: Counters{Dropped: func(n int) { dropped.Add(int64(n)) }}})
	if err != nil {
		t.Fatal(err)
	}
	big := audit.Record{Seq: 1, Time: time.Now(), Actor: "user:u", Action: "tool.call", Outcome: audit.OutcomeOK,
		Details: map[string]string{"summary": strings.Repeat("x", maxDatagram)}}
	small := audit.Record{Seq: 2, Time: time.Now(), Actor: "user:u", Action: "tool.call", Outcome: audit.OutcomeOK}
	e.Export([]audit.Record{big, small})
	pc.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 70000)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no datagram after the oversized record: %v", err)
	}
	if r, _ := parseSyslog(t, buf[:n]); r.Seq != 2 {
		t.Errorf("got record %d, want 2", r.Seq)
	}
	e.Close(t.Context())
	if dropped.Load() != 1 {
		t.Errorf("dropped %d, want the oversized record counted", dropped.Load())
	}
}
