package tool

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// testSchema has a field of every type.
var testSchema = &Schema{
	Type:        "object",
	Description: "test arguments",
	Properties: map[string]*Schema{
		"path":     {Type: "string", Description: "a path", MinLength: 1, MaxLength: 10},
		"content":  {Type: "string"},
		"offset":   {Type: "integer", Minimum: Ptr(1)},
		"ratio":    {Type: "number", Minimum: Ptr(0), Maximum: Ptr(1)},
		"force":    {Type: "boolean"},
		"language": {Type: "string", Enum: []string{"python", "javascript", "bash"}},
		"tags":     {Type: "array", Items: &Schema{Type: "string"}, MaxItems: 2},
		"opts": {Type: "object", Properties: map[string]*Schema{
			"depth": {Type: "integer", Maximum: Ptr(3)},
		}, Required: []string{"depth"}},
	},
	Required: []string{"path", "content"},
}

const fields = "path, content, force, language, offset, opts, ratio, tags"

var validateTests = []struct {
	args string
	want string // "" for valid, else the whole error message
}{
	{`{"path":"a","content":""}`, ""},
	{` {"path":"a","content":"x","offset":5,"ratio":0.5,"force":true,"language":"bash","tags":["a","b"],"opts":{"depth":3}} `, ""},
	{`{"path":"a","content":"x","offset":1e400}`, `field "offset": the number 1e400 is out of range`},
	{`{"path":"a","content":"x","offset":12345678901234567890}`, `field "offset": the number 12345678901234567890 is out of range`},
	{`{"path":"a","content":"x","offset":-0}`, `field "offset": want at least 1, got -0`},
	{`{"path":"a","content":"x","offset":"5"}`, `field "offset": want an integer, got a string (write the number without quotes)`},
	{`{"path":"a","content":"x","offset":5.5}`, `field "offset": want an integer (a whole number written without a decimal point, such as 5), got 5.5`},
	{`{"path":"a","content":"x","offset":5.0}`, `field "offset": want an integer (a whole number written without a decimal point, such as 5), got 5.0`},
	{`{"path":"a","content":"x","offset":1e2}`, `field "offset": want an integer (a whole number written without a decimal point, such as 5), got 1e2`},
	{`{"path":"a","content":"x","offset":0}`, `field "offset": want at least 1, got 0`},
	{`{"path":"a","content":"x","offset":null}`, `field "offset": want an integer, got null; leave out an optional field instead of sending null`},
	{`{"path":"a","content":"x","ratio":2}`, `field "ratio": want at most 1, got 2`},
	{`{"path":"a","content":"x","ratio":true}`, `field "ratio": want a number, got a boolean`},
	{`{"path":"a","content":"x","force":"true"}`, `field "force": want true or false, got a string`},
	{`{"path":"a","content":"x","language":"ruby"}`, `field "language": want one of python, javascript, bash; got "ruby"`},
	{`{"path":"a","content":"x","tags":"a"}`, `field "tags": want an array, got a string`},
	{`{"path":"a","content":"x","tags":["a",1]}`, `field "tags[1]": want a string, got the number 1`},
	{`{"path":"a","content":"x","tags":["a","b","c"]}`, `field "tags": want at most 2 items, got 3`},
	{`{"path":"a","content":"x","opts":{}}`, `missing required field "opts.depth"`},
	{`{"path":"a","content":"x","opts":{"depth":4}}`, `field "opts.depth": want at most 3, got 4`},
	{`{"path":"a","content":"x","opts":{"depht":1}}`, `unknown field "opts.depht"; the fields are: depth (did you mean "opts.depth"?)`},
	{`{"path":"a","content":"x","opts":[]}`, `field "opts": want an object, got an array`},
	{`{"path":"","content":"x"}`, `field "path": must not be empty`},
	{`{"path":"ééééééééééé","content":"x"}`, `field "path": want at most 10 characters, got 11`},
	{`{"path":"éééééééééé","content":"x"}`, ""},
	{`{"path":5,"content":"x"}`, `field "path": want a string, got the number 5`},
	{`{"content":"x"}`, `missing required field "path"`},
	{`{"path":"a"}`, `missing required field "content"`},
	{`{"pth":"a","content":"x"}`, `unknown field "pth"; the fields are: ` + fields + ` (did you mean "path"?)`},
	{`{"Path":"a","content":"x"}`, `unknown field "Path"; the fields are: ` + fields + ` (did you mean "path"?)`},
	{`{"path":"a","content":"x","zzzzzz":1}`, `unknown field "zzzzzz"; the fields are: ` + fields},
	{`{"path":"a","path":"b","content":"x"}`, `field "path" appears more than once; give each field once`},
	{`{"path":"a","content":"x","opts":{"depth":1,"depth":2}}`, `field "depth" appears more than once; give each field once`},
	{`{"path":"a","content":"x"} {}`, `the arguments have data after the JSON object; send one JSON object only`},
	{`{"path":"a","content":"x"}x`, `the arguments have data after the JSON object; send one JSON object only`},
	{`{"path":"a",}`, `the arguments are not valid JSON (invalid character '}' looking for beginning of object key string at byte 13); send one JSON object`},
	{``, `the arguments are not valid JSON (unexpected end of JSON input at byte 0); send one JSON object`},
	{`[]`, `the arguments must be a JSON object with the fields: ` + fields + `, got an array`},
	{`"path"`, `the arguments must be a JSON object with the fields: ` + fields + `, got a string`},
	{`null`, `the arguments must be a JSON object with the fields: ` + fields + `, got null`},
	{`{"path":"a","content":"x","tags":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, `the arguments nest more than 64 levels deep`},
}

func TestValidate(t *testing.T) {
	for _, tt := range validateTests {
		err := testSchema.Validate(json.RawMessage(tt.args))
		if tt.want == "" {
			if err != nil {
				t.Errorf("Validate(%q) = %q, want nil", tt.args, bulwark.ErrorMessage(err))
			}
			continue
		}
		if err == nil {
			t.Errorf("Validate(%q) = nil, want %q", tt.args, tt.want)
			continue
		}
		if got := bulwark.ErrorMessage(err); got != tt.want {
			t.Errorf("Validate(%q) = %q, want %q", tt.args, got, tt.want)
		}
		if k := bulwark.ErrorKind(err); k != bulwark.Invalid {
			t.Errorf("Validate(%q): kind %v, want %v", tt.args, k, bulwark.Invalid)
		}
	}
}

func TestValidateEmptySchema(t *testing.T) {
	empty := &Schema{Type: "object"}
	if err := empty.Validate(json.RawMessage(`{}`)); err != nil {
		t.Errorf("Validate({}) against no fields = %v", err)
	}
	want := `unknown field "x"; this takes no fields`
	if got := bulwark.ErrorMessage(empty.Validate(json.RawMessage(`{"x":1}`))); got != want {
		t.Errorf("Validate(%q) = %q, want %q", `{"x":1}`, got, want)
	}
}

func TestMarshalJSON(t *testing.T) {
	got, err := json.Marshal(testSchema)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"object","description":"test arguments","properties":{` +
		`"path":{"type":"string","description":"a path","minLength":1,"maxLength":10},` +
		`"content":{"type":"string"},` +
		`"force":{"type":"boolean"},` +
		`"language":{"type":"string","enum":["python","javascript","bash"]},` +
		`"offset":{"type":"integer","minimum":1},` +
		`"opts":{"type":"object","properties":{"depth":{"type":"integer","maximum":3}},"required":["depth"],"additionalProperties":false},` +
		`"ratio":{"type":"number","minimum":0,"maximum":1},` +
		`"tags":{"type":"array","items":{"type":"string"},"maxItems":2}},` +
		`"required":["path","content"],"additionalProperties":false}`
	if string(got) != want {
		t.Errorf("json.Marshal(testSchema) =\n%s\nwant\n%s", got, want)
	}
	empty, _ := json.Marshal(&Schema{Type: "object"})
	if want := `{"type":"object","properties":{},"additionalProperties":false}`; string(empty) != want {
		t.Errorf("json.Marshal(empty object) = %s, want %s", empty, want)
	}
}

// FuzzSchemaValidate checks that Validate never panics, that what it accepts
// is one valid JSON object that decodes, and that what it refuses it refuses
// with an error of kind Invalid.
func FuzzSchemaValidate(f *testing.F) {
	for _, tt := range validateTests {
		f.Add(tt.args)
	}
	f.Fuzz(func(t *testing.T, args string) {
		err := testSchema.Validate(json.RawMessage(args))
		if err != nil {
			if k := bulwark.ErrorKind(err); k != bulwark.Invalid {
				t.Fatalf("Validate(%q): kind %v, want %v", args, k, bulwark.Invalid)
			}
			if bulwark.ErrorMessage(err) == "internal error" {
				t.Fatalf("Validate(%q) error has no message", args)
			}
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(args), &m); err != nil {
			t.Fatalf("Validate(%q) = nil, but it does not decode as an object: %v", args, err)
		}
		for _, name := range testSchema.Required {
			if _, ok := m[name]; !ok {
				t.Fatalf("Validate(%q) = nil without required field %q", args, name)
			}
		}
		for name := range m {
			if _, ok := testSchema.Properties[name]; !ok {
				t.Fatalf("Validate(%q) = nil with unknown field %q", args, name)
			}
		}
	})
}
