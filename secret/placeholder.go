package secret

// This file puts secret values into tool arguments: a model never sees a
// secret, it writes {{secret:NAME}} and the value is substituted just
// before the tool runs.

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// validName is the form of a secret's name.
var validName = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`) }}

// ValidName reports whether name can name a secret:
// ^[A-Za-z_][A-Za-z0-9_]{0,63}$.
func ValidName(name string) bool { return validName.Get().MatchString(name) }

const (
	placeholderOpen  = "{{secret:"
	placeholderClose = "}}"
)

// Placeholder returns the placeholder that stands for the secret name.
func Placeholder(name string) string { return placeholderOpen + name + placeholderClose }

// Substitute replaces every {{secret:NAME}} placeholder in the string
// values of the JSON value args, at any depth (object keys are left alone),
// with values[NAME], and returns the new JSON. A placeholder naming a secret
// not in values is an Invalid error that names it, and a "{{secret:" that
// does not start a well-formed placeholder is Invalid too; args that are not
// JSON are Invalid. Substituted values are not themselves searched for
// placeholders. Arguments without placeholders come back unchanged.
func Substitute(args json.RawMessage, values map[string]string) (json.RawMessage, error) {
	return substitute(args, values, true)
}

// SubstituteSome is Substitute for the secrets in values only: the
// placeholders of other (well-formed) names are left as they are, for the
// egress proxy to replace or for code to see.
func SubstituteSome(args json.RawMessage, values map[string]string) (json.RawMessage, error) {
	return substitute(args, values, false)
}

func substitute(args json.RawMessage, values map[string]string, strict bool) (json.RawMessage, error) {
	const op = "secret.Substitute"
	if !mayHavePlaceholder(args) {
		if !json.Valid(args) {
			return nil, bulwark.Errorf(bulwark.Invalid, op, "the tool arguments are not valid JSON")
		}
		return args, nil
	}
	v, err := decodeJSON(args)
	if err != nil {
		return nil, bulwark.E(bulwark.Invalid, op, "the tool arguments are not valid JSON", err)
	}
	changed := false
	v, err = walkStrings(v, func(s string) (string, error) {
		out, err := substituteString(s, values, strict)
		if out != s {
			changed = true
		}
		return out, err
	})
	if err != nil {
		return nil, err
	}
	if !changed {
		return args, nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, bulwark.E(bulwark.Internal, op, "the tool arguments could not be encoded", err)
	}
	return json.RawMessage(bytes.TrimRight(b.Bytes(), "\n")), nil
}

// Placeholders returns the names of the secrets the JSON value args refers
// to, each once, in order of appearance. Malformed placeholders and invalid
// JSON are ignored: Substitute reports them.
func Placeholders(args json.RawMessage) []string {
	if !mayHavePlaceholder(args) {
		return nil
	}
	v, err := decodeJSON(args)
	if err != nil {
		return nil
	}
	var names []string
	seen := map[string]bool{}
	walkStrings(v, func(s string) (string, error) {
		for {
			i := strings.Index(s, placeholderOpen)
			if i < 0 {
				return s, nil
			}
			s = s[i+len(placeholderOpen):]
			name, _, ok := strings.Cut(s, placeholderClose)
			if ok && ValidName(name) && !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
	})
	return names
}

// mayHavePlaceholder is a fast, conservative test: a placeholder in a
// decoded string needs "secret" in the raw JSON, unless it is written with
// \u escapes.
func mayHavePlaceholder(args []byte) bool {
	return bytes.Contains(args, []byte("secret:")) || bytes.Contains(args, []byte(`\u`))
}

func decodeJSON(args []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.UseNumber() // keep numbers exactly as given
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	// Only JSON's own whitespace may follow (bytes.TrimSpace would also
	// take \v and the like, which JSON does not allow).
	if len(bytes.Trim(args[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

// walkStrings applies f to every string value in v, in document order for
// arrays (objects in key order), and returns v with the results.
func walkStrings(v any, f func(string) (string, error)) (any, error) {
	switch x := v.(type) {
	case string:
		return f(x)
	case []any:
		for i := range x {
			y, err := walkStrings(x[i], f)
			if err != nil {
				return nil, err
			}
			x[i] = y
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			y, err := walkStrings(x[k], f)
			if err != nil {
				return nil, err
			}
			x[k] = y
		}
	}
	return v, nil
}

// substituteString replaces the placeholders of one string.
func substituteString(s string, values map[string]string, strict bool) (string, error) {
	const op = "secret.Substitute"
	i := strings.Index(s, placeholderOpen)
	if i < 0 {
		return s, nil
	}
	var b strings.Builder
	for i >= 0 {
		b.WriteString(s[:i])
		rest := s[i+len(placeholderOpen):]
		name, after, ok := strings.Cut(rest, placeholderClose)
		if !ok || !ValidName(name) {
			return "", bulwark.Errorf(bulwark.Invalid, op,
				"a secret placeholder in the tool arguments is malformed: write {{secret:NAME}}, NAME made of letters, digits and _")
		}
		val, ok := values[name]
		if !ok && !strict {
			val = Placeholder(name)
		} else if !ok {
			return "", bulwark.Errorf(bulwark.Invalid, op, "unknown secret %q in the tool arguments: no secret of that name is set for this tenant", name)
		}
		b.WriteString(val)
		s = after
		i = strings.Index(s, placeholderOpen)
	}
	b.WriteString(s)
	return b.String(), nil
}
