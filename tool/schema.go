package tool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
	"github.com/google/jsonschema-go/jsonschema"

	"github.com/bulwark-agents/bulwark/internal/flatjson"
)

// Schema is the strict schema of a tool's arguments: a small subset of JSON
// Schema that models understand and that Validate checks exactly.
//
// Type is one of "object", "string", "integer", "number", "boolean" and
// "array". Objects never allow fields beyond Properties. Fields other than
// Type and Description apply only to the types their comments name.
type Schema struct {
	Type        string
	Description string

	// Object.
	Properties map[string]*Schema
	Required   []string // names of Properties that must be present

	// String.
	Enum      []string // allowed values; empty means any string
	MinLength int      // in characters
	MaxLength int      // in characters; zero means no limit

	// Integer and number.
	Minimum, Maximum *float64

	// Array.
	Items    *Schema // schema of every element; nil means any value
	MaxItems int     // zero means no limit

	// Raw, when set, is the whole schema in full JSON Schema, as a tool of
	// another program declares it (an MCP server's input schema): the
	// model is shown it as it is, and Validate checks arguments against
	// it with a complete JSON Schema validator; every other field is then
	// ignored. Build such a schema with RawSchema, which checks it once.
	Raw json.RawMessage

	resolved *jsonschema.Resolved // Raw, resolved by RawSchema
}

// MaxRawSchema caps the size of a raw schema (RawSchema), which the model
// reads with every request.
const MaxRawSchema = 32 << 10

// RawSchema returns the schema whose arguments must satisfy the JSON Schema
// doc (an object schema; no "type" means an object), resolved once so that
// Validate is quick. References must stay inside doc: nothing is fetched.
// An error (kind Invalid) says why doc cannot be used.
func RawSchema(doc json.RawMessage) (*Schema, error) {
	const op = "tool.RawSchema"
	if len(doc) > MaxRawSchema {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "the schema is %d bytes, over the limit of %d", len(doc), MaxRawSchema)
	}
	var js jsonschema.Schema
	if err := json.Unmarshal(doc, &js); err != nil {
		return nil, bulwark.E(bulwark.Invalid, op, "the schema is not a JSON Schema object", err)
	}
	if js.Type != "" && js.Type != "object" {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "the schema is of type %q, not an object", js.Type)
	}
	if len(js.Types) > 0 {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "the schema has several types; arguments are an object")
	}
	if err := checkFanOut(doc); err != nil {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "the schema cannot be used: %v", err)
	}
	resolved, err := js.Resolve(nil)
	if err != nil {
		return nil, bulwark.E(bulwark.Invalid, op, "the schema cannot be used: "+err.Error(), err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, doc); err != nil {
		return nil, bulwark.E(bulwark.Invalid, op, "the schema is not valid JSON", err)
	}
	return &Schema{Type: "object", Raw: compact.Bytes(), resolved: resolved}, nil
}

// Ptr returns a pointer to v, for Schema.Minimum and Schema.Maximum.
func Ptr(v float64) *float64 { return &v }

// maxDepth caps how deeply arguments may nest, so that hostile input cannot
// make Validate recurse without bound.
const maxDepth = 64

// fieldNames returns the property names in their stable order: required
// fields in the order of Required, then the others sorted.
func (s *Schema) fieldNames() []string {
	names := make([]string, 0, len(s.Properties))
	for _, name := range s.Required {
		if _, ok := s.Properties[name]; ok && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	var rest []string
	for name := range s.Properties {
		if !slices.Contains(names, name) {
			rest = append(rest, name)
		}
	}
	slices.Sort(rest)
	return append(names, rest...)
}

// MarshalJSON writes s as standard JSON Schema. Objects always carry
// "properties" and "additionalProperties": false; properties come in a
// stable order (required fields first, as listed in Required, then the
// rest by name).
func (s *Schema) MarshalJSON() ([]byte, error) {
	if s != nil && s.Raw != nil {
		return slices.Clone(s.Raw), nil
	}
	var b bytes.Buffer
	if err := s.write(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (s *Schema) write(b *bytes.Buffer) error {
	if s == nil {
		b.WriteString("{}")
		return nil
	}
	b.WriteByte('{')
	first := true
	field := func(name string, v any) error {
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeString(b, name)
		b.WriteByte(':')
		if sub, ok := v.(*Schema); ok {
			return sub.write(b)
		}
		data, err := json.Marshal(v)
		b.Write(data)
		return err
	}
	var err error
	add := func(name string, v any) {
		if err == nil {
			err = field(name, v)
		}
	}
	if s.Type != "" {
		add("type", s.Type)
	}
	if s.Description != "" {
		add("description", s.Description)
	}
	if s.Type == "object" {
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(`"properties":{`)
		for i, name := range s.fieldNames() {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, name)
			b.WriteByte(':')
			if err == nil {
				err = s.Properties[name].write(b)
			}
		}
		b.WriteByte('}')
		if len(s.Required) > 0 {
			add("required", s.Required)
		}
		add("additionalProperties", false)
	}
	if len(s.Enum) > 0 {
		add("enum", s.Enum)
	}
	if s.MinLength > 0 {
		add("minLength", s.MinLength)
	}
	if s.MaxLength > 0 {
		add("maxLength", s.MaxLength)
	}
	if s.Minimum != nil {
		add("minimum", *s.Minimum)
	}
	if s.Maximum != nil {
		add("maximum", *s.Maximum)
	}
	if s.Items != nil {
		add("items", s.Items)
	}
	if s.MaxItems > 0 {
		add("maxItems", s.MaxItems)
	}
	b.WriteByte('}')
	return err
}

func writeString(b *bytes.Buffer, s string) {
	data, _ := json.Marshal(s)
	b.Write(data)
}

// Validate checks that args is one JSON object that s allows, strictly: no
// unknown fields, every required field present, exact types (an integer is
// a number written without fraction or exponent, and the string "5" is not
// one; null is not a value of any type, so leave an optional field out
// instead), enum values, limits, nested objects and arrays; duplicate keys
// and data after the object are refused. The error is a *bulwark.Error of
// kind Invalid whose message names the field and what was wanted.
func (s *Schema) Validate(args json.RawMessage) error {
	const op = "tool.Validate"
	v, err := parse(args)
	if err != nil {
		return bulwark.E(bulwark.Invalid, op, err.Error(), nil)
	}
	if _, ok := v.(*object); !ok {
		return bulwark.Errorf(bulwark.Invalid, op, "the arguments must be a JSON object%s, got %s", s.example(), describe(v))
	}
	if s == nil {
		s = &Schema{Type: "object"}
	}
	if s.Raw != nil {
		return s.validateRaw(args)
	}
	if err := s.check("", v, 0); err != nil {
		return bulwark.E(bulwark.Invalid, op, err.Error(), nil)
	}
	return nil
}

// validateRaw checks args (one JSON object, already parsed strictly)
// against the raw schema s.Raw.
func (s *Schema) validateRaw(args json.RawMessage) error {
	const op = "tool.Validate"
	resolved := s.resolved
	if resolved == nil {
		r, err := RawSchema(s.Raw)
		if err != nil {
			return bulwark.E(bulwark.Invalid, op, "the tool's schema cannot be used: "+bulwark.ErrorMessage(err), err)
		}
		resolved = r.resolved
	}
	var v map[string]any
	if err := json.Unmarshal(args, &v); err != nil {
		return bulwark.E(bulwark.Invalid, op, "the arguments are not a JSON object", err)
	}
	if err := resolved.Validate(v); err != nil {
		msg := err.Error()
		if len(msg) > 1000 {
			msg = msg[:1000] + "..."
		}
		return bulwark.E(bulwark.Invalid, op, "the arguments do not match the tool's schema: "+msg, nil)
	}
	return nil
}

// example suggests the shape of a valid object, for error messages.
func (s *Schema) example() string {
	if s == nil || len(s.Properties) == 0 {
		return ""
	}
	return " with the fields: " + strings.Join(s.fieldNames(), ", ")
}

// check reports how v breaks s; at is the field's path ("" at the top).
func (s *Schema) check(at string, v any, depth int) error {
	if depth > maxDepth {
		return fieldErr(at, "nests too deeply")
	}
	switch s.Type {
	case "object":
		o, ok := v.(*object)
		if !ok {
			return wrongType(at, "an object", v)
		}
		for _, key := range o.keys {
			sub, ok := s.Properties[key]
			if !ok {
				return unknownField(at, key, s.fieldNames())
			}
			if err := sub.check(join(at, key), o.values[key], depth+1); err != nil {
				return err
			}
		}
		for _, name := range s.Required {
			if _, ok := o.values[name]; !ok {
				return fmt.Errorf("missing required field %q", join(at, name))
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return wrongType(at, "an array", v)
		}
		if s.MaxItems > 0 && len(a) > s.MaxItems {
			return fieldErr(at, fmt.Sprintf("want at most %d items, got %d", s.MaxItems, len(a)))
		}
		if s.Items != nil {
			for i, elem := range a {
				if err := s.Items.check(fmt.Sprintf("%s[%d]", at, i), elem, depth+1); err != nil {
					return err
				}
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return wrongType(at, "a string", v)
		}
		if len(s.Enum) > 0 && !slices.Contains(s.Enum, str) {
			return fieldErr(at, fmt.Sprintf("want one of %s; got %s", strings.Join(s.Enum, ", "), quote(str)))
		}
		n := utf8.RuneCountInString(str)
		if s.MaxLength > 0 && n > s.MaxLength {
			return fieldErr(at, fmt.Sprintf("want at most %d characters, got %d", s.MaxLength, n))
		}
		if n < s.MinLength {
			if n == 0 {
				return fieldErr(at, "must not be empty")
			}
			return fieldErr(at, fmt.Sprintf("want at least %d characters, got %d", s.MinLength, n))
		}
	case "integer", "number":
		num, ok := v.(json.Number)
		if !ok {
			want := "a number"
			if s.Type == "integer" {
				want = "an integer"
			}
			return wrongType(at, want, v)
		}
		f, err := num.Float64()
		if err != nil || math.IsInf(f, 0) {
			return fieldErr(at, fmt.Sprintf("the number %s is out of range", num))
		}
		if s.Type == "integer" {
			if strings.ContainsAny(string(num), ".eE") {
				return fieldErr(at, fmt.Sprintf("want an integer (a whole number written without a decimal point, such as 5), got %s", num))
			}
			if _, err := strconv.ParseInt(string(num), 10, 64); err != nil {
				return fieldErr(at, fmt.Sprintf("the number %s is out of range", num))
			}
		}
		if s.Minimum != nil && f < *s.Minimum {
			return fieldErr(at, fmt.Sprintf("want at least %s, got %s", formatNum(*s.Minimum), num))
		}
		if s.Maximum != nil && f > *s.Maximum {
			return fieldErr(at, fmt.Sprintf("want at most %s, got %s", formatNum(*s.Maximum), num))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return wrongType(at, "true or false", v)
		}
	case "":
		// Any value.
	default:
		return fmt.Errorf("the schema of field %q has unknown type %q", at, s.Type)
	}
	return nil
}

func join(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}

func fieldErr(at, msg string) error {
	if at == "" {
		return errors.New("the arguments: " + msg)
	}
	return fmt.Errorf("field %q: %s", at, msg)
}

func wrongType(at, want string, got any) error {
	msg := fmt.Sprintf("want %s, got %s", want, describe(got))
	if got == nil {
		msg += "; leave out an optional field instead of sending null"
	}
	if s, ok := got.(string); ok && (want == "an integer" || want == "a number") {
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			msg += " (write the number without quotes)"
		}
	}
	return fieldErr(at, msg)
}

func unknownField(at, key string, fields []string) error {
	name := join(at, key)
	if len(fields) == 0 {
		return fmt.Errorf("unknown field %q; this takes no fields", name)
	}
	msg := fmt.Sprintf("unknown field %q; the fields are: %s", name, strings.Join(fields, ", "))
	if near := nearest(key, fields); near != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", join(at, near))
	}
	return errors.New(msg)
}

// nearest returns the field closest to key in spelling, if it is close.
func nearest(key string, fields []string) string {
	best, bestDist := "", 3
	for _, f := range fields {
		if d := distance(strings.ToLower(key), f); d < bestDist {
			best, bestDist = f, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b, in bytes, capped for
// long inputs (anything over 64 bytes is far).
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// describe names the type of a parsed JSON value, for error messages.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number:
		return "the number " + string(v)
	case []any:
		return "an array"
	case *object:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func quote(s string) string {
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return strconv.Quote(s)
}

func formatNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// object is a parsed JSON object that remembers the order of its keys.
type object struct {
	keys   []string
	values map[string]any
}

// parse reads exactly one JSON value from data into nil, bool, string,
// json.Number, []any and *object, refusing duplicate keys, nesting beyond
// maxDepth and trailing data.
func parse(data []byte) (any, error) {
	if !parseFlatOff {
		if o, ok := parseFlat(data); ok {
			return o, nil
		}
	}
	if !json.Valid(data) {
		var first json.RawMessage
		if json.NewDecoder(bytes.NewReader(data)).Decode(&first) == nil {
			return nil, errors.New("the arguments have data after the JSON object; send one JSON object only")
		}
		var v any
		err := json.Unmarshal(data, &v)
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("the arguments are not valid JSON (%s at byte %d); send one JSON object", syn.Error(), syn.Offset)
		}
		return nil, errors.New("the arguments are not valid JSON; send one JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("the arguments have data after the JSON object; send one JSON object only")
	}
	return v, nil
}

func parseValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("the arguments nest more than %d levels deep", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, errors.New("the arguments are not valid JSON; send one JSON object")
	}
	switch tok {
	case json.Delim('{'):
		o := &object{values: make(map[string]any)}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, errors.New("the arguments are not valid JSON; send one JSON object")
			}
			key := tok.(string)
			if _, dup := o.values[key]; dup {
				return nil, fmt.Errorf("field %q appears more than once; give each field once", key)
			}
			v, err := parseValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			o.keys = append(o.keys, key)
			o.values[key] = v
		}
		_, err := dec.Token() // '}'
		return o, err
	case json.Delim('['):
		a := []any{}
		for dec.More() {
			v, err := parseValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token() // ']'
		return a, err
	}
	return tok, nil
}

// parseFlatOff turns parseFlat off, for FuzzParseFlat to compare.
var parseFlatOff bool

// parseFlat is parse for the commonest arguments, an object of string
// values without escapes (a file tool's path and content), read without
// encoding/json's token decoder, which boxed every token. ok is false for
// anything else, which parse reads the long way: other values, escapes,
// control characters, invalid UTF-8, a repeated key, data after the
// object. FuzzParseFlat holds it to parse.
func parseFlat(data []byte) (*object, bool) {
	var stack [4]flatjson.Pair
	pairs, ok := flatjson.Pairs(data, stack[:0])
	if !ok {
		return nil, false
	}
	o := &object{values: make(map[string]any, len(pairs))}
	if len(pairs) == 0 {
		return o, true
	}
	// The keys and values are cut from one string: one allocation, not
	// one each (a tool call's arguments are checked every turn).
	n := 0
	for _, p := range pairs {
		n += len(p.Key) + len(p.Value)
	}
	var all strings.Builder
	all.Grow(n)
	for _, p := range pairs {
		all.Write(p.Key)
		all.Write(p.Value)
	}
	text := all.String()
	o.keys = make([]string, len(pairs))
	for i, p := range pairs {
		k := text[:len(p.Key)]
		v := text[len(p.Key) : len(p.Key)+len(p.Value)]
		text = text[len(p.Key)+len(p.Value):]
		o.keys[i] = k
		o.values[k] = v
	}
	return o, true
}
