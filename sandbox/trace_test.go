package sandbox

import (
	"math"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// An init's reply is read, never trusted: whatever stamps it sends, the
// trace stays bounded, ordered, within the clock's range and printable.
func TestTraceHostileInitStamps(t *testing.T) {
	tr := &Trace{}
	tr.Mark("host: before")
	now := int64(Monotonic())
	var stamps []initStamp
	stamps = append(stamps,
		initStamp{Name: "huge", At: math.MaxInt64},
		initStamp{Name: "negative", At: math.MinInt64},
		initStamp{Name: "zero", At: 0},
		initStamp{Name: "future", At: now + int64(365*24*3600)*1e9},
		initStamp{Name: "\x1b[2J\x1b[31mfake: escaped\r\nhost: all clear", At: now - 1},
		initStamp{Name: "x" + strings.Repeat("é", 40), At: now - 2},
	)
	for i := 0; i < 100; i++ {
		stamps = append(stamps, initStamp{Name: "many", At: now - 3})
	}
	tr.addInit(stamps)
	tr.Mark("host: after")

	phases := tr.Phases()
	if n := len(phases); n > 2+maxInitPhases {
		t.Errorf("trace has %d phases after a reply of %d stamps, want at most %d", n, len(stamps), 2+maxInitPhases)
	}
	first, last := phases[0], phases[len(phases)-1]
	if first.Name != "host: before" || last.Name != "host: after" {
		t.Errorf("phases run from %q to %q, want the host's marks first and last (the init's stamps in between)", first.Name, last.Name)
	}
	for i, p := range phases {
		if i > 0 && p.At < phases[i-1].At {
			t.Errorf("phase %d %q at %d comes after %q at %d: not in order", i, p.Name, p.At, phases[i-1].Name, phases[i-1].At)
		}
		if !utf8.ValidString(p.Name) || strings.IndexFunc(p.Name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			t.Errorf("phase name %q is not printable text", p.Name)
		}
		if len(p.Name) > len("init: ")+40 {
			t.Errorf("phase name %q is longer than 40 bytes after its prefix", p.Name)
		}
	}
}
