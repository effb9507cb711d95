package tool

import (
	"strconv"
	"testing"
)

// BenchmarkValidateManyKeys is the schema check of a call of 10,000
// string-valued keys, which it refuses (unknown fields): before
// flatjson.MaxPairs the fast path compared each key with every key
// before it first.
func BenchmarkValidateManyKeys(b *testing.B) {
	s := &Schema{Type: "object", Properties: map[string]*Schema{"path": {Type: "string"}, "content": {Type: "string"}}, Required: []string{"path", "content"}}
	args := []byte{'{'}
	for i := range 10_000 {
		if i > 0 {
			args = append(args, ',')
		}
		args = append(args, `"k`...)
		args = strconv.AppendInt(args, int64(i), 10)
		args = append(args, `":"v"`...)
	}
	args = append(args, '}')
	for b.Loop() {
		if s.Validate(args) == nil {
			b.Fatal("taken")
		}
	}
}
