package initproc

import (
	"bytes"
	"math"
	"reflect"
	"runtime"
	"testing"
)

// newMessages returns one empty value of every control message.
func newMessages() []Message {
	return []Message{&Config{}, &Reply{}, &RunRequest{}, &RunReply{}, &Spawn{}, &Spawned{}}
}

// fill sets every field reachable from v to a value that is not its zero
// value, seeded by n so that two fields of a type differ.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(-int64(*n) * 1000003)
	case reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n) * 65537)
	case reflect.String:
		v.SetString(string(rune('a'+*n%26)) + "\x00\xff/é")
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), n)
		}
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), n)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	default:
		panic("fill: no value for a field of kind " + v.Kind().String() + ": teach the codec and this test about it")
	}
}

// Every field of every message travels: a field added to a message but
// not to its fields method arrives as its zero value and fails here.
func TestCodecCoversEveryField(t *testing.T) {
	for _, m := range newMessages() {
		n := 0
		fill(reflect.ValueOf(m).Elem(), &n)
		got := reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message)
		if err := decode(encode(m), got); err != nil {
			t.Fatalf("decode(encode(%T)) = %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%T went through the codec as\n%+v\nwant\n%+v", m, got, m)
		}
	}
}

// nil and empty lists, and an absent Rootless, come back as they went.
func TestCodecKeepsNilApart(t *testing.T) {
	for _, m := range []Message{
		&RunRequest{Argv: []string{}, Env: nil},
		&RunRequest{Argv: nil, Env: []string{""}},
		&Config{Rootless: &Rootless{}},
		&Reply{Trace: []Stamp{}},
	} {
		got := reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message)
		if err := decode(encode(m), got); err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("decode(encode(%#v)) = %#v, %v", m, got, err)
		}
	}
}

var malformed = []struct {
	name string
	m    Message
	b    []byte
}{
	{"empty", &Spawned{}, nil},
	{"another kind", &Spawned{}, encode(&Spawn{})},
	{"bytes left over", &Spawned{}, append(encode(&Spawned{}), 0)},
	{"truncated", &Spawn{}, encode(&Spawn{InitUID: 1000, CmdUID: 2000})[:3]},
	{"bool of 2", &Spawn{}, []byte{kindSpawn, 0, 0, 2}},
	{"uint32 too large", &Spawn{}, []byte{kindSpawn, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 0}},
	{"varint not shortest", &Spawn{}, []byte{kindSpawn, 0x81, 0x00, 0, 0}},
	{"varint over 64 bits", &Spawned{}, []byte{kindSpawned, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0}},
	{"varint of 11 bytes", &Spawned{}, []byte{kindSpawned, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x01, 0}},
	{"string longer than the message", &Spawned{}, []byte{kindSpawned, 0, 5, 'a', 'b'}},
	{"string length past 2^63", &Spawned{}, []byte{kindSpawned, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	{"more elements than bytes", &RunRequest{}, []byte{kindRunRequest, 4, 0, 0, 0, 0}},
	{"count past 2^63", &RunRequest{}, []byte{kindRunRequest, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0}},
	{"optional of 2", &Config{}, append(encode(&Config{})[:len(encode(&Config{}))-1], 2)},
}

func TestCodecRefusesMalformed(t *testing.T) {
	for _, c := range malformed {
		if err := decode(c.b, c.m); err == nil {
			t.Errorf("%s: decode(%x) into %T = nil error, want one", c.name, c.b, c.m)
		}
	}
}

// The most a message of maxMsg bytes can make the reader allocate is a
// small multiple of its size: every count is checked against the bytes
// left, and each element takes one byte at least. The worst messages are
// lists of empty elements.
func TestCodecAllocationBounded(t *testing.T) {
	n := maxMsg - 16 // elements that fit with the other fields
	for _, m := range []Message{
		&RunRequest{Argv: make([]string, n)},    // a 16-byte header a byte
		&Reply{Trace: make([]Stamp, n/2)},       // 24 bytes for two
		&Config{AllowExec: make([]string, n-8)}, // the same as Argv
	} {
		b := encode(m)
		if len(b) > maxMsg {
			t.Fatalf("%T of %d bytes: over maxMsg", m, len(b))
		}
		got := reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := decode(b, got)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("decode of %d bytes into %T: %v", len(b), m, err)
		}
		if alloc, limit := after.TotalAlloc-before.TotalAlloc, uint64(16*maxMsg+64<<10); alloc > limit {
			t.Errorf("decode of %d bytes into %T allocated %d bytes, more than %d", len(b), m, alloc, limit)
		}
	}
}

// Send refuses a message that would not fit the receiver's buffer,
// rather than have it cut short.
func TestSendRefusesTooLong(t *testing.T) {
	if err := Send(-1, &RunRequest{Argv: []string{string(make([]byte, maxMsg))}}); err == nil {
		t.Error("Send of a message over maxMsg = nil error, want one")
	}
}

// FuzzControlMessage reads hostile bytes as every message: nothing panics,
// and what is accepted is written back byte for byte (one encoding per
// message). The other arguments make messages to send through the codec
// and back.
func FuzzControlMessage(f *testing.F) {
	for _, m := range newMessages() {
		n := 0
		fill(reflect.ValueOf(m).Elem(), &n)
		f.Add(encode(m), "x", int64(-1), true)
	}
	for _, c := range malformed {
		f.Add(c.b, "", int64(0), false)
	}
	f.Add([]byte{kindRunRequest, 0xff, 0xff, 0x03}, "\x00", int64(math.MinInt64), false)
	f.Fuzz(func(t *testing.T, b []byte, s string, i int64, flag bool) {
		if len(b) > maxMsg {
			return
		}
		for _, m := range newMessages() {
			if decode(b, m) != nil {
				continue
			}
			if back := encode(m); !bytes.Equal(back, b) {
				t.Errorf("%T: decode then encode of %x gave %x", m, b, back)
			}
		}
		for _, m := range []Message{
			&Config{AllowExec: []string{s, s}, TmpSize: i, ProxySock: s, NProc: uint64(i), Cgroups: int(i), Check: flag, Rootless: &Rootless{WorkspacePath: s, BecomeRoot: !flag}},
			&RunRequest{Argv: []string{s}, Env: nil, Announce: flag},
			&RunReply{Exit: int(i), Signal: -int(i), Err: s, Alone: flag, Trace: []Stamp{{Name: s, At: i}}},
			&Spawn{InitUID: uint32(i), CmdUID: uint32(i >> 32), CgroupFD: flag},
		} {
			got := reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message)
			if err := decode(encode(m), got); err != nil || !reflect.DeepEqual(got, m) {
				t.Errorf("decode(encode(%+v)) = %+v, %v", m, got, err)
			}
		}
	})
}
