package initproc

import (
	"errors"
	"math"
)

// The control messages are written in a small binary form of their own
// rather than JSON: the init is a new process for every sandbox, and its
// first use of encoding/json (reflection, type caches, pages touched for
// the first time) took about 1.8 ms of each cold start, as long as the
// rest of its set-up before Landlock. Without it the init binary does not
// link encoding/json at all.
//
// A message is a kind byte, then its fields in the order its fields
// method lists them:
//
//	bool       one byte, 0 or 1
//	unsigned   uvarint, in its shortest form
//	signed     zigzag uvarint (as encoding/binary's PutVarint)
//	string     uvarint length, then the bytes
//	list       uvarint 0 for nil, else 1 + the count, then each element
//	optional   a bool, then the value when it is true
//
// One fields method per message both writes and reads it, so the two
// directions cannot drift apart; a field added to a message is added to
// its fields method, at the end (TestCodecCoversEveryField fails when one
// is forgotten). Decoding is strict: a packet is at most maxMsg bytes;
// every length and count is checked against the bytes left before
// anything is allocated, so that a list takes at most 16 bytes of memory
// for a byte of the message (a string's header); a value out of its
// field's range, a longer varint than needed, a wrong kind or bytes left
// over make the whole message an error.

// Message is a control message: its kind byte and its fields. Only the
// messages of this file are one.
type Message interface {
	kind() byte
	fields(w *wire)
}

// The kinds of message: a message read as another kind is refused.
const (
	kindConfig byte = 1 + iota
	kindReply
	kindRunRequest
	kindRunReply
	kindSpawn
	kindSpawned
)

var errMalformed = errors.New("malformed control message")

// wire is a message being written (decode false: appended to buf) or
// read (decode true: buf is what is left to read). The first error
// while reading sticks, and every read after it is a no-op.
type wire struct {
	buf    []byte
	decode bool
	err    error
}

// encode returns m's bytes.
func encode(m Message) []byte {
	w := &wire{buf: make([]byte, 0, 256)}
	w.buf = append(w.buf, m.kind())
	m.fields(w)
	return w.buf
}

// decode reads b, a whole packet, into m.
func decode(b []byte, m Message) error {
	if len(b) == 0 || b[0] != m.kind() {
		return errMalformed
	}
	w := &wire{buf: b[1:], decode: true}
	m.fields(w)
	if w.err == nil && len(w.buf) != 0 {
		w.err = errMalformed
	}
	return w.err
}

func (w *wire) fail() { w.err = errMalformed; w.buf = nil }

// uvarint writes or reads the raw unsigned varint every other value is
// made of.
func (w *wire) uvarint(v *uint64) {
	if !w.decode {
		x := *v
		for x >= 0x80 {
			w.buf = append(w.buf, byte(x)|0x80)
			x >>= 7
		}
		w.buf = append(w.buf, byte(x))
		return
	}
	if w.err != nil {
		return
	}
	var x uint64
	for i, s := 0, uint(0); ; i, s = i+1, s+7 {
		if i == len(w.buf) {
			w.fail()
			return
		}
		b := w.buf[i]
		if i == 9 && b > 1 { // more than 64 bits
			w.fail()
			return
		}
		if b < 0x80 {
			if b == 0 && i > 0 { // not the shortest form
				w.fail()
				return
			}
			*v = x | uint64(b)<<s
			w.buf = w.buf[i+1:]
			return
		}
		x |= uint64(b&0x7f) << s
	}
}

func (w *wire) bool(v *bool) {
	var x uint64
	if *v {
		x = 1
	}
	w.uvarint(&x)
	if w.decode && w.err == nil {
		if x > 1 {
			w.fail()
			return
		}
		*v = x == 1
	}
}

func (w *wire) uint64(v *uint64) { w.uvarint(v) }

func (w *wire) uint32(v *uint32) {
	x := uint64(*v)
	w.uvarint(&x)
	if w.decode && w.err == nil {
		if x > math.MaxUint32 {
			w.fail()
			return
		}
		*v = uint32(x)
	}
}

func (w *wire) int64(v *int64) {
	x := uint64(*v<<1) ^ uint64(*v>>63) // zigzag: small negatives stay short
	w.uvarint(&x)
	if w.decode && w.err == nil {
		*v = int64(x>>1) ^ -int64(x&1)
	}
}

func (w *wire) int(v *int) {
	x := int64(*v)
	w.int64(&x)
	if w.decode && w.err == nil {
		if int64(int(x)) != x {
			w.fail()
			return
		}
		*v = int(x)
	}
}

func (w *wire) string(v *string) {
	n := uint64(len(*v))
	w.uvarint(&n)
	if !w.decode {
		w.buf = append(w.buf, *v...)
		return
	}
	if w.err != nil {
		return
	}
	if n > uint64(len(w.buf)) {
		w.fail()
		return
	}
	*v = string(w.buf[:n])
	w.buf = w.buf[n:]
}

// count writes or reads a list's length, nil apart from empty: n is the
// length, or -1 for nil. A count read is at most the bytes left divided
// by least, the fewest bytes an element takes.
func (w *wire) count(n, least int) int {
	x := uint64(n + 1)
	w.uvarint(&x)
	if !w.decode {
		return n
	}
	if w.err != nil || x == 0 {
		return -1
	}
	if x-1 > uint64(len(w.buf)/least) {
		w.fail()
		return -1
	}
	return int(x) - 1
}

// list writes or reads s, each element with one, which writes least
// bytes at least.
func list[T any](w *wire, s *[]T, least int, one func(*wire, *T)) {
	n := -1
	if *s != nil {
		n = len(*s)
	}
	n = w.count(n, least)
	if !w.decode {
		for i := range *s {
			one(w, &(*s)[i])
		}
		return
	}
	if n < 0 {
		*s = nil
		return
	}
	out := make([]T, n)
	for i := range out {
		if one(w, &out[i]); w.err != nil {
			return
		}
	}
	*s = out
}

// optional writes or reads *p, present or nil.
func optional[T any](w *wire, p **T, one func(*wire, *T)) {
	present := *p != nil
	w.bool(&present)
	if w.err != nil {
		return
	}
	if !present {
		*p = nil
		return
	}
	if w.decode {
		*p = new(T)
	}
	one(w, *p)
}

func (w *wire) strings(s *[]string) { list(w, s, 1, (*wire).string) }
func (w *wire) stamps(s *[]Stamp)   { list(w, s, 2, func(w *wire, s *Stamp) { s.fields(w) }) }

func (*Config) kind() byte { return kindConfig }

func (c *Config) fields(w *wire) {
	w.strings(&c.AllowExec)
	w.int64(&c.TmpSize)
	w.bool(&c.RootTree)
	w.bool(&c.Proxy)
	w.string(&c.ProxySock)
	w.uint64(&c.NProc)
	w.uint64(&c.FileSize)
	w.int(&c.Cgroups)
	w.bool(&c.Check)
	w.strings(&c.ExecDirs)
	w.strings(&c.ExecLibs)
	w.strings(&c.NoExec)
	w.string(&c.TrustPEM)
	w.strings(&c.ReadOnly)
	w.string(&c.WriteExec)
	w.bool(&c.WorkspaceExec)
	w.bool(&c.Trace)
	optional(w, &c.Rootless, func(w *wire, r *Rootless) { r.fields(w) })
	w.bool(&c.Hide)
	w.bool(&c.Resolved)
	w.strings(&c.Allowed)
}

func (r *Rootless) fields(w *wire) {
	w.string(&r.WorkspacePath)
	w.bool(&r.BecomeRoot)
}

func (s *Stamp) fields(w *wire) {
	w.string(&s.Name)
	w.int64(&s.At)
}

func (*Reply) kind() byte { return kindReply }

func (r *Reply) fields(w *wire) {
	w.bool(&r.Ready)
	w.string(&r.Err)
	w.int(&r.ABI)
	w.stamps(&r.Trace)
}

func (*RunRequest) kind() byte { return kindRunRequest }

func (r *RunRequest) fields(w *wire) {
	w.strings(&r.Argv)
	w.strings(&r.Env)
	w.bool(&r.Announce)
	w.strings(&r.Hide)
	w.strings(&r.Pin)
}

func (*RunReply) kind() byte { return kindRunReply }

func (r *RunReply) fields(w *wire) {
	w.bool(&r.Started)
	w.int(&r.Exit)
	w.int(&r.Signal)
	w.string(&r.Err)
	w.bool(&r.Alone)
	w.bool(&r.Running)
	w.bool(&r.NotAllowed)
	w.int(&r.SyscallKilled)
	w.stamps(&r.Trace)
}

func (*Spawn) kind() byte { return kindSpawn }

func (s *Spawn) fields(w *wire) {
	w.uint32(&s.InitUID)
	w.uint32(&s.CmdUID)
	w.bool(&s.CgroupFD)
}

func (*Spawned) kind() byte { return kindSpawned }

func (s *Spawned) fields(w *wire) {
	w.int(&s.Pid)
	w.string(&s.Err)
}
