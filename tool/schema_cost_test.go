package tool

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// doubling is a schema whose anyOf branches double at each of depth
// levels, every path failing at the leaf: validating {} walks 2^depth
// paths.
func doubling(depth int) json.RawMessage {
	var defs []string
	for i := range depth {
		defs = append(defs, fmt.Sprintf(`"a%d":{"anyOf":[{"$ref":"#/$defs/a%d"},{"$ref":"#/$defs/a%d"}]}`, i, i+1, i+1))
	}
	defs = append(defs, fmt.Sprintf(`"a%d":{"required":["never"]}`, depth))
	return json.RawMessage(`{"type":"object","$defs":{` + strings.Join(defs, ",") + `},"allOf":[{"$ref":"#/$defs/a0"}]}`)
}

// A schema that checks one place of the arguments against too many of its
// subschemas, or whose references loop at one place, or lead outside it,
// is refused; the schemas MCP servers make (definitions, nesting, unions,
// a tree that recurses through a property) are not. A 1.9 KB schema of
// the first kind took gigabytes and minutes to validate against (a red
// team).
func TestRawSchemaBoundsItsFanOut(t *testing.T) {
	for _, c := range []struct {
		name string
		doc  json.RawMessage
		ok   bool
		why  string
	}{
		{"doubling, 7 levels", doubling(7), true, ""},
		{"doubling, 12 levels", doubling(12), false, "more than 1000"},
		{"doubling, 26 levels", doubling(26), false, "more than 1000"},
		{"a loop at one place", json.RawMessage(`{"type":"object","$defs":{"n":{"anyOf":[{"type":"string"},{"$ref":"#/$defs/n"}]}},"allOf":[{"$ref":"#/$defs/n"}]}`), false, "come back"},
		{"a reference by anchor", json.RawMessage(`{"type":"object","$defs":{"n":{"$anchor":"x"}},"allOf":[{"$ref":"#x"}]}`), false, "not a JSON pointer"},
		{"a reference elsewhere", json.RawMessage(`{"type":"object","properties":{"a":{"$ref":"https://example.com/s.json"}}}`), false, "not a JSON pointer"},
		{"definitions and unions", json.RawMessage(`{"type":"object","$defs":{"Item":{"type":"object","properties":{"name":{"type":"string"},"qty":{"anyOf":[{"type":"integer"},{"type":"null"}]}}}},"properties":{"items":{"type":"array","items":{"$ref":"#/$defs/Item"}},"mode":{"oneOf":[{"const":"a"},{"const":"b"}]}},"required":["items"]}`), true, ""},
		{"a tree through a property", json.RawMessage(`{"type":"object","$defs":{"node":{"type":"object","properties":{"v":{"type":"string"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}}}},"properties":{"root":{"$ref":"#/$defs/node"}}}`), true, ""},
		{"escaped pointer", json.RawMessage(`{"type":"object","$defs":{"a/b~c":{"type":"string"}},"properties":{"x":{"$ref":"#/$defs/a~1b~0c"}}}`), true, ""},
	} {
		_, err := RawSchema(c.doc)
		if (err == nil) != c.ok || err != nil && !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: RawSchema = %v, want ok %v (%q)", c.name, err, c.ok, c.why)
		}
	}
}

func FuzzCheckFanOut(f *testing.F) {
	f.Add([]byte(doubling(3)))
	f.Add([]byte(`{"$ref":"#"}`))
	f.Add([]byte(`{"allOf":[{"$ref":"#/allOf/0"}]}`))
	f.Add([]byte(`{"$defs":{"a":[{"$ref":"#/$defs/a/0"}]},"anyOf":[{"$ref":"#/$defs/a/0"}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		if !json.Valid(doc) {
			return
		}
		checkFanOut(doc) // must end, without panicking
	})
}
