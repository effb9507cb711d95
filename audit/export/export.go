// Package export copies audit records, as the log stores them (masked,
// with their hashes), to a place a SIEM reads: standard output, a file,
// or a syslog server (RFC 5424 over TCP with octet-counted framing, RFC
// 6587, or over UDP). The copy never holds up the actions being audited:
// records wait in a bounded queue, and when it is full they are dropped,
// counted and logged, never waited for. One goroutine writes the queue in
// order, so each exporter's copy keeps the order of every chain; a record
// that cannot be written is kept and written again once the destination
// is back, so an outage costs only what the queue could not hold.
package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark/audit"
)

// Counters are told what happened to records; nil fields are ignored.
type Counters struct {
	Exported func()      // a record was written
	Dropped  func(n int) // records were dropped: the queue was full, or one could not be encoded
	Failed   func()      // a write or a connection failed (the record is retried)
}

// Options configure an Exporter.
type Options struct {
	// Queue is the most records waiting to be written (default 10000).
	Queue int
	// Timeout bounds one write and one connection attempt (default 5s):
	// a peer that reads slowly or not at all costs the writer this long,
	// never the request path.
	Timeout time.Duration
	// Backoff is the first wait before writing again after a failure
	// (default 1s); it doubles up to 30s.
	Backoff  time.Duration
	Counters Counters
	// Log is where drops and failures are reported (default slog.Default()).
	Log *slog.Logger
	// Hostname and AppName fill the syslog header (default os.Hostname()
	// and "bulwark").
	Hostname, AppName string
}

// Exporter queues records and writes them to its destination in a
// goroutine of its own. It implements audit.Exporter.
type Exporter struct {
	dest   destination
	opt    Options
	queue  chan audit.Record
	done   chan struct{}
	stop   chan struct{}
	closed sync.Once

	mu       sync.Mutex
	dropping bool // a drop was logged and no record has been queued since
	dropped  int  // drops since that log line
}

var _ audit.Exporter = (*Exporter)(nil)

// destination writes one record; it may hold a connection between calls.
type destination interface {
	write(r audit.Record, line []byte) error
	reset() // drop the connection after a failure
	close() error
	String() string
}

// Parse reads BULWARK_AUDIT_EXPORT's value: "stdout", "file:PATH",
// "syslog:tcp://HOST:PORT" or "syslog:udp://HOST:PORT" ("syslog:HOST:PORT"
// is TCP). It checks the form only: nothing is opened.
func Parse(spec string) (Target, error) {
	switch {
	case spec == "stdout":
		return Target{Kind: "stdout"}, nil
	case strings.HasPrefix(spec, "file:"):
		p := strings.TrimPrefix(spec, "file:")
		if p == "" {
			return Target{}, errors.New("file: needs a path, as file:/var/log/bulwark/audit.jsonl")
		}
		return Target{Kind: "file", Path: p}, nil
	case strings.HasPrefix(spec, "syslog:"):
		a := strings.TrimPrefix(spec, "syslog:")
		network := "tcp"
		if strings.Contains(a, "://") {
			u, err := url.Parse(a)
			if err != nil || (u.Scheme != "tcp" && u.Scheme != "udp") || u.Path != "" || u.User != nil || u.RawQuery != "" {
				return Target{}, errors.New("syslog: tcp://HOST:PORT or udp://HOST:PORT")
			}
			network, a = u.Scheme, u.Host
		}
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return Target{}, errors.New("syslog: the address needs a host and a port, as syslog:tcp://siem.example:514")
		}
		return Target{Kind: "syslog", Network: network, Addr: a}, nil
	}
	return Target{}, errors.New("want stdout, file:PATH, syslog:tcp://HOST:PORT or syslog:udp://HOST:PORT")
}

// Target is a parsed destination.
type Target struct {
	Kind    string // "stdout", "file" or "syslog"
	Path    string // of a file
	Network string // of syslog: "tcp" or "udp"
	Addr    string // of syslog: HOST:PORT
}

func (t Target) String() string {
	switch t.Kind {
	case "file":
		return "file " + t.Path
	case "syslog":
		return "syslog over " + t.Network + " to " + t.Addr
	}
	return t.Kind
}

// New starts an Exporter to t. Standard output is written to stdout
// (nil: os.Stdout); a file is opened for appending (created 0600) now, so
// that a path that cannot be written fails at start-up. A syslog server
// need not be up: records queue until it is.
func New(t Target, stdout io.Writer, opt Options) (*Exporter, error) {
	if opt.Queue <= 0 {
		opt.Queue = 10000
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 5 * time.Second
	}
	if opt.Backoff <= 0 {
		opt.Backoff = time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.AppName == "" {
		opt.AppName = "bulwark"
	}
	if opt.Hostname == "" {
		opt.Hostname, _ = os.Hostname()
	}
	var d destination
	switch t.Kind {
	case "stdout":
		if stdout == nil {
			stdout = os.Stdout
		}
		d = &lineWriter{w: stdout, name: "stdout"}
	case "file":
		f, err := openExportFile(t.Path)
		if err != nil {
			return nil, err
		}
		d = &lineWriter{w: f, c: f, name: "file " + t.Path}
	case "syslog":
		d = &syslogWriter{network: t.Network, addr: t.Addr, timeout: opt.Timeout,
			host: opt.Hostname, app: opt.AppName, pid: os.Getpid()}
	default:
		return nil, fmt.Errorf("audit export: unknown destination %q", t.Kind)
	}
	e := &Exporter{dest: d, opt: opt, queue: make(chan audit.Record, opt.Queue),
		done: make(chan struct{}), stop: make(chan struct{})}
	go e.run()
	return e, nil
}

// openExportFile opens the export file for appending, created 0600. Its
// last component may not be a symlink (one planted there would have the
// server append to whatever it names), and an existing file must be
// regular and closed to others: the export is the audit log.
func openExportFile(p string) (*os.File, error) {
	if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return nil, fmt.Errorf("audit export: %s is a symlink: name the file itself", p)
	}
	// O_NOFOLLOW closes the race with a symlink made after the Lstat.
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE|oNoFollow, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit export: %w", err)
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
		f.Close()
		return nil, fmt.Errorf("audit export: %w", err)
	case !fi.Mode().IsRegular():
		f.Close()
		return nil, fmt.Errorf("audit export: %s is not a regular file", p)
	case fi.Mode().Perm()&0o007 != 0:
		f.Close()
		return nil, fmt.Errorf("audit export: %s may be read or written by any user (mode %04o): the export is the audit log; chmod o-rwx it", p, fi.Mode().Perm())
	}
	return f, nil
}

// Export queues recs in order, dropping (and counting) those the queue
// has no room for. It never blocks.
func (e *Exporter) Export(recs []audit.Record) {
	for _, r := range recs {
		select {
		case e.queue <- r:
		default:
			e.drop(r)
		}
	}
}

// drop counts a dropped record and logs the first of a run of drops; the
// count of the run is logged when records are written again.
func (e *Exporter) drop(r audit.Record) {
	e.countDropped(1)
	e.mu.Lock()
	first := !e.dropping
	e.dropping = true
	e.dropped++
	e.mu.Unlock()
	if first {
		e.opt.Log.Warn("audit export: the queue is full, records are dropped from the export (they stay in the audit log)",
			"destination", e.dest.String(), "chain", r.TenantID, "seq", r.Seq)
	}
}

// run writes queued records in order until Close.
func (e *Exporter) run() {
	defer close(e.done)
	for {
		var r audit.Record
		select { // what is queued first: Close waits for it
		case r = <-e.queue:
		default:
			select {
			case r = <-e.queue:
			case <-e.stop:
				return
			}
		}
		if !e.deliver(r) {
			return
		}
		e.mu.Lock()
		if e.dropping {
			e.opt.Log.Warn("audit export: writing again after dropping records", "destination", e.dest.String(), "dropped", e.dropped)
			e.dropping, e.dropped = false, 0
		}
		e.mu.Unlock()
	}
}

// deliver writes r, or drops it when it can never be written; a write
// that fails is tried again after a backoff (on a new connection), so the
// copy resumes where it stopped. It returns false when Close stopped it.
func (e *Exporter) deliver(r audit.Record) bool {
	count := func(f func()) {
		if f != nil {
			f()
		}
	}
	line, err := audit.EncodeRecord(r)
	if err != nil { // a stored record always encodes; count it if not
		e.countDropped(1)
		e.opt.Log.Error("audit export: a record cannot be encoded", "chain", r.TenantID, "seq", r.Seq, "err", err)
		return true
	}
	for backoff := e.opt.Backoff; ; backoff = min(2*backoff, 30*time.Second) {
		err := e.dest.write(r, line)
		switch {
		case err == nil:
			count(e.opt.Counters.Exported)
			return true
		case errors.Is(err, errTooLarge):
			e.countDropped(1)
			e.opt.Log.Warn("audit export: a record is dropped", "destination", e.dest.String(), "chain", r.TenantID, "seq", r.Seq, "err", err)
			return true
		}
		e.dest.reset()
		count(e.opt.Counters.Failed)
		e.opt.Log.Warn("audit export: cannot write, will try again", "destination", e.dest.String(), "retry_in", backoff, "err", err)
		select {
		case <-e.stop:
			e.countDropped(1)
			return false
		case <-time.After(backoff):
		}
	}
}

// Close writes what is queued, for as long as ctx allows, then stops and
// closes the destination. Records still queued when ctx ends are dropped
// and counted. Export must not be called after Close.
func (e *Exporter) Close(ctx context.Context) error {
	var err error
	e.closed.Do(func() {
		for len(e.queue) > 0 && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
		close(e.stop)
		<-e.done
		if n := len(e.queue); n > 0 {
			e.countDropped(n)
			e.opt.Log.Warn("audit export: records left unwritten at shutdown (they stay in the audit log)", "destination", e.dest.String(), "dropped", n)
		}
		err = e.dest.close()
	})
	return err
}

// lineWriter writes each record as its stored JSON line.
type lineWriter struct {
	w    io.Writer
	c    io.Closer
	name string
}

func (l *lineWriter) write(_ audit.Record, line []byte) error {
	_, err := l.w.Write(line)
	return err
}

func (l *lineWriter) reset() {}

func (l *lineWriter) close() error {
	if l.c != nil {
		return l.c.Close()
	}
	return nil
}

func (l *lineWriter) String() string { return l.name }

func (e *Exporter) countDropped(n int) {
	if f := e.opt.Counters.Dropped; f != nil {
		f(n)
	}
}
