package tool

import (
	"fmt"
	"reflect"
	"testing"
)

// FuzzParseFlat: what parseFlat takes, parse reads the long way to the
// same value.
func FuzzParseFlat(f *testing.F) {
	for _, s := range []string{
		`{"path":"step-3.txt","content":"xxxx"}`, ` { "a" : "b" } `, `{}`, ` {} `, `{"a":"x","a":"y"}`,
		`{"a":"\u00e9"}`, `{"a":"é"}`, "{\"a\":\"\xff\"}", `{"a":1}`, `{"a":"x",}`, `{"a":"x"}x`, `{"a":"x"} {}`,
		`{"a":"x"`, `["a"]`, `"a"`, ``, `{"a" "x"}`, `{"":""}`, "{\"a\":\"\t\"}", `{"a":"<&>"}`, `{"a":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, ok := parseFlat(data)
		if !ok {
			return
		}
		dec := decodeSlow(data)
		if dec.err != nil {
			t.Fatalf("parseFlat(%q) took what parse refuses: %v", data, dec.err)
		}
		if !reflect.DeepEqual(any(o), dec.v) {
			t.Fatalf("parseFlat(%q) = %s, parse = %s", data, show(o), show(dec.v))
		}
	})
}

type slowResult struct {
	v   any
	err error
}

// decodeSlow is parse without parseFlat.
func decodeSlow(data []byte) slowResult {
	saved := parseFlatOff
	parseFlatOff = true
	defer func() { parseFlatOff = saved }()
	v, err := parse(data)
	return slowResult{v, err}
}

func show(v any) string {
	if o, ok := v.(*object); ok {
		return fmt.Sprintf("%q %#v", o.keys, o.values)
	}
	return fmt.Sprintf("%#v", v)
}

// BenchmarkValidateWriteFile is the schema check of one write_file call of
// bench agents.
func BenchmarkValidateWriteFile(b *testing.B) {
	s := &Schema{Type: "object", Properties: map[string]*Schema{"path": {Type: "string"}, "content": {Type: "string"}}, Required: []string{"path", "content"}}
	args := []byte(`{"path":"step-3.txt","content":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)
	for _, off := range []bool{false, true} {
		b.Run(fmt.Sprintf("slow=%v", off), func(b *testing.B) {
			parseFlatOff = off
			defer func() { parseFlatOff = false }()
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Validate(args); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A flat object's keys and values are cut from one string: a write_file
// call's arguments take the object, its map, its keys, the string and a
// value in an interface each (7 allocations; one per key and value more
// before).
func TestParseFlatAllocs(t *testing.T) {
	data := []byte(`{"path":"step-3.txt","content":"eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4"}`)
	if n := testing.AllocsPerRun(100, func() { parseFlat(data) }); n > 7 {
		t.Errorf("parseFlat of a write_file call: %.0f allocations, want at most 7", n)
	}
}
