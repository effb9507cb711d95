package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// errBadJSON is the cause of every error decodeJSON returns for a body
// that does not decode: the server counts them per client (abuse.go).
var errBadJSON = errors.New("the request body did not decode")

// decodeJSON reads the request's body, which must be one JSON object of
// type application/json with no fields v lacks and no field named twice
// (refuseDuplicateKeys), into v. Form bodies are refused: no route of this
// server takes one, and refusing them keeps a cross-site form from
// reaching a handler. Errors are Invalid (400), or
// QuotaExceeded (413) for a body over the route's MaxBody.
func decodeJSON(r *http.Request, v any) error {
	const op = "server.decodeJSON"
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return bulwark.Errorf(bulwark.Invalid, op, "send the body as JSON, with Content-Type: application/json")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return jsonError(op, err, v, nil)
	}
	if err := refuseDuplicateKeys(op, body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(op, err, v, body)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return jsonError(op, err, v, nil)
		}
		return bulwark.E(bulwark.Invalid, op, "the body must hold one JSON object and nothing after it", errBadJSON)
	}
	return nil
}

// jsonError turns a decoding error of body, meant for v, into a message
// for the client: where the JSON is wrong, and what is wanted there. What
// the client sent is repeated only in one case: the name of an unknown
// field, when it has the shape of the names this server declares
// (fieldShape: short, lower case letters, digits and underscores), so
// that a typo is easy to see; any other name is "an unknown field". A
// field path is named only when it is made of names this server declares
// (see safeFieldPath), and the fields listed are v's own.
func jsonError(op string, err error, v any, body []byte) error {
	var (
		mb     *http.MaxBytesError
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	bad := func(msg string) error { return bulwark.E(bulwark.Invalid, op, msg, errBadJSON) }
	switch {
	case errors.As(err, &mb):
		return bulwark.E(bulwark.QuotaExceeded, op, "the body is too large", err)
	case bulwark.ErrorKind(err) == bulwark.Invalid && bulwark.ErrorMessage(err) != "":
		// A field's own JSON reader (bulwark.SecretInject) said what is
		// wrong, in words meant for the client.
		return err
	case errors.Is(err, io.EOF):
		return bad("the body is empty: send a JSON object")
	case errors.As(err, &syntax):
		return bad("the body is not valid JSON (at byte " + strconv.FormatInt(syntax.Offset, 10) + ")")
	case errors.As(err, &typ):
		if field, ok := safeFieldPath(typ.Field, v); ok {
			return bad("the field " + field + " has the wrong type: want " + jsonKind(typ.Type))
		}
		if typ.Field != "" {
			return bad("a field of the body has the wrong type")
		}
		return bad("the body must be a JSON object")
	}
	if quoted, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ := strconv.Unquote(quoted)
		return bad(unknownFieldMessage(name, body, reflect.TypeOf(v)))
	}
	return bad("the body is not valid JSON")
}

// fieldShape is the shape of every JSON field name this server declares.
// An unknown field name of this shape is short and of a fixed alphabet,
// so repeating it in an error is safe (issue 11: no reflection beyond a
// short, fixed-charset excerpt) and shows the client its typo.
var fieldShape = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`) }}

// unknownFieldMessage says which field of body the type t does not take
// and lists the fields it takes where that field is: `unknown field
// "task"; the fields are input, model, limits`, or `unknown field "x" in
// limits; the fields there are max_steps, ...` for a nested object.
func unknownFieldMessage(name string, body []byte, t reflect.Type) string {
	what := "an unknown field"
	if fieldShape.Get().MatchString(name) {
		what = "unknown field " + strconv.Quote(name)
	}
	where, at := "", t
	var doc any
	if json.Unmarshal(body, &doc) == nil {
		if p, st, ok := findUnknown(doc, t, name, ""); ok {
			where, at = p, st
		}
	}
	fields := jsonFields(at)
	switch {
	case len(fields) == 0 && where == "":
		return what + " (this request takes no fields)"
	case len(fields) == 0:
		return what + " in " + where
	case where == "":
		return what + "; the fields are " + strings.Join(fields, ", ")
	}
	return what + " in " + where + "; the fields there are " + strings.Join(fields, ", ")
}

// findUnknown finds the object of doc, decoded for type t, that holds the
// key name although its struct type declares no such field: it returns
// the object's path of declared names ("" for the top, "policy.rules")
// and its struct type. Keys match fields without regard to case, as
// encoding/json matches them.
func findUnknown(doc any, t reflect.Type, name, path string) (string, reflect.Type, bool) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || reflect.PointerTo(t).Implements(jsonUnmarshaler()) {
		return "", nil, false
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := doc.(map[string]any)
		if !ok {
			return "", nil, false
		}
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			f, ok := fieldFold(t, k)
			if !ok {
				if k == name {
					return path, t, true
				}
				continue
			}
			sub := f.name
			if path != "" {
				sub = path + "." + f.name
			}
			if p, st, ok := findUnknown(obj[k], f.typ, name, sub); ok {
				return p, st, true
			}
		}
	case reflect.Slice, reflect.Array:
		list, _ := doc.([]any)
		for _, e := range list {
			if p, st, ok := findUnknown(e, t.Elem(), name, path); ok {
				return p, st, true
			}
		}
	case reflect.Map:
		obj, _ := doc.(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			if p, st, ok := findUnknown(obj[k], t.Elem(), name, path); ok {
				return p, st, true
			}
		}
	}
	return "", nil, false
}

func jsonUnmarshaler() reflect.Type { return reflect.TypeFor[json.Unmarshaler]() }

// jsonField is a field of a struct as JSON sees it.
type jsonField struct {
	name string
	typ  reflect.Type
}

// fieldFold finds the field of struct t that JSON key k decodes into: the
// one named k, else one named k in another case.
func fieldFold(t reflect.Type, k string) (jsonField, bool) {
	fields := jsonFieldsOf(t)
	for _, f := range fields {
		if f.name == k {
			return f, true
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.name, k) {
			return f, true
		}
	}
	return jsonField{}, false
}

// safeFieldPath returns path ("limits.max_steps") when each of its names
// is a JSON field name declared by v's type or the types it holds: never
// a map key or anything else the client chose.
func safeFieldPath(path string, v any) (string, bool) {
	if path == "" || len(path) > 128 {
		return "", false
	}
	t := reflect.TypeOf(v)
	for name := range strings.SplitSeq(path, ".") {
		t = structOf(t)
		if t == nil {
			return "", false
		}
		f, ok := fieldByJSONName(t, name)
		if !ok {
			return "", false
		}
		t = f
	}
	return path, true
}

// structOf returns the struct type t holds (through pointers, slices and
// arrays), or nil.
func structOf(t reflect.Type) reflect.Type {
	for t != nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			t = t.Elem()
		case reflect.Struct:
			return t
		default:
			return nil
		}
	}
	return nil
}

// fieldByJSONName finds the field of struct t that JSON names name, in t
// or its embedded structs, and returns its type.
func fieldByJSONName(t reflect.Type, name string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		n, skip := jsonName(f)
		switch {
		case skip:
		case f.Anonymous && n == "":
			if ft, ok := fieldByJSONName(structOf(f.Type), name); ok {
				return ft, true
			}
		case n == name || n == "" && f.Name == name:
			return f.Type, true
		}
	}
	return nil, false
}

// jsonFields lists the JSON field names of the struct t holds.
func jsonFields(t reflect.Type) []string {
	var out []string
	for _, f := range jsonFieldsOf(t) {
		out = append(out, f.name)
	}
	return out
}

// jsonFieldsOf lists the JSON fields of the struct t holds (through
// pointers, slices and arrays), embedded structs' fields included.
func jsonFieldsOf(t reflect.Type) []jsonField {
	t = structOf(t)
	if t == nil {
		return nil
	}
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		n, skip := jsonName(f)
		switch {
		case skip:
		case f.Anonymous && n == "":
			out = append(out, jsonFieldsOf(f.Type)...)
		case n != "":
			out = append(out, jsonField{n, f.Type})
		default:
			out = append(out, jsonField{f.Name, f.Type})
		}
	}
	return out
}

// jsonName is the name of f in its json tag ("" when the tag names
// none); skip is true for unexported fields and fields tagged "-".
func jsonName(f reflect.StructField) (name string, skip bool) {
	tag := f.Tag.Get("json")
	if tag == "-" || !f.IsExported() && !f.Anonymous {
		return "", true
	}
	name, _, _ = strings.Cut(tag, ",")
	return name, false
}

// jsonKind names the JSON kind a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "an object"
}
