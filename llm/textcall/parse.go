package textcall

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// Call is a tool call found in a model's text.
type Call struct {
	Name      string
	Arguments json.RawMessage // a compact JSON object
}

// ErrNoJSON is returned by Parse for a text with no JSON object in it: a
// plain reply rather than a failed tool call.
var ErrNoJSON = errors.New("no JSON object in the reply")

// maxCandidates bounds the objects Parse tries in one text.
const maxCandidates = 64

var (
	nameKeys = []string{"tool", "name", "function", "tool_name", "action"}
	argKeys  = []string{"arguments", "args", "parameters", "input", "action_input"}
	// emptyFence matches a code fence left empty once its JSON is cut out.
	emptyFence = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp { return regexp.MustCompile("```[A-Za-z]*\\s*```") }}
)

// Parse finds the first tool call in text, leniently: the JSON may stand in
// a ```json fence or bare among prose; the tool's name may be under "tool",
// "name" or "function" and its arguments under "arguments", "args" or
// "parameters", as an object or a JSON string; trailing commas, single
// quotes, raw newlines in strings and Python's True/False/None are
// repaired. When tools is not empty, only those names count (matched
// without regard to case). It returns the call and the text around it.
// Without a call, err is ErrNoJSON or says what was wrong.
func Parse(text string, tools []string) (call Call, prose string, err error) {
	var firstErr error
	tried := 0
	for i := 0; i < len(text) && tried < maxCandidates; i++ {
		if text[i] != '{' {
			continue
		}
		tried++
		end := matchBrace(text, i)
		if end < 0 {
			if firstErr == nil {
				firstErr = errors.New("a JSON object is not closed")
			}
			continue
		}
		obj, err := decodeObject(text[i:end])
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("invalid JSON: %v", err)
			}
			continue
		}
		c, err := extract(obj, tools)
		if err != nil {
			// A well-formed object that is no call: remember why, but an
			// object inside it may still be one.
			var se *semanticError
			if firstErr == nil || errors.As(err, &se) && !errors.As(firstErr, &se) {
				firstErr = err
			}
			continue
		}
		prose = text[:i] + text[end:]
		prose = strings.TrimSpace(emptyFence.Get().ReplaceAllString(prose, ""))
		return c, prose, nil
	}
	if firstErr == nil {
		firstErr = ErrNoJSON
	}
	return Call{}, text, firstErr
}

type semanticError struct{ msg string }

func (e *semanticError) Error() string { return e.msg }

// extract reads a call out of a decoded object.
func extract(obj map[string]json.RawMessage, tools []string) (Call, error) {
	var name string
	var args json.RawMessage
	for _, k := range nameKeys {
		v, ok := obj[k]
		if !ok {
			continue
		}
		if json.Unmarshal(v, &name) == nil && name != "" {
			break
		}
		var nested map[string]json.RawMessage // {"function": {"name": ..., "arguments": ...}}
		if k == "function" && json.Unmarshal(v, &nested) == nil {
			return extract(nested, tools)
		}
	}
	if name == "" {
		return Call{}, errors.New(`the JSON object has no "tool" key naming the tool`)
	}
	if len(tools) > 0 {
		known := ""
		for _, t := range tools {
			if strings.EqualFold(t, strings.TrimSpace(name)) {
				known = t
			}
		}
		if known == "" {
			return Call{}, &semanticError{fmt.Sprintf("there is no tool %q; the tools are %s", name, strings.Join(tools, ", "))}
		}
		name = known
	}
	for _, k := range argKeys {
		if v, ok := obj[k]; ok {
			args = v
			break
		}
	}
	args = bytes.TrimSpace(args)
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage("{}")
	}
	if args[0] == '"' {
		var s string
		json.Unmarshal(args, &s)
		inner, err := decodeObject(s)
		if err != nil {
			return Call{}, &semanticError{fmt.Sprintf("the arguments of %s are not a JSON object: %v", name, err)}
		}
		args, _ = json.Marshal(inner)
	}
	if args[0] != '{' {
		return Call{}, &semanticError{fmt.Sprintf("the arguments of %s must be a JSON object", name)}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, args); err != nil {
		return Call{}, &semanticError{fmt.Sprintf("the arguments of %s are not valid JSON: %v", name, err)}
	}
	return Call{Name: name, Arguments: buf.Bytes()}, nil
}

// decodeObject decodes s as a JSON object, repairing it if needed.
func decodeObject(s string) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	err := json.Unmarshal([]byte(s), &obj)
	if err == nil && obj != nil {
		return obj, nil
	}
	if err2 := json.Unmarshal([]byte(repair(s)), &obj); err2 == nil && obj != nil {
		return obj, nil
	}
	if err == nil {
		err = errors.New("not an object")
	}
	return nil, err
}

// matchBrace returns the index just past the brace that closes the one at
// text[start], or -1. It skips braces in double- and single-quoted strings.
func matchBrace(text string, start int) int {
	depth := 0
	var quote byte
	for i := start; i < len(text); i++ {
		c := text[i]
		if quote != 0 {
			switch c {
			case '\\':
				i++
			case quote:
				quote = 0
			}
			continue
		}
		switch c {
		case '"', '\'':
			quote = c
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// repair rewrites near-JSON into JSON: single-quoted strings become double
// quoted, raw control characters in strings are escaped, trailing commas
// are dropped, and True/False/None become true/false/null.
func repair(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if quote != 0 {
			switch {
			case c == '\\' && i+1 < len(s):
				if quote == '\'' && s[i+1] == '\'' {
					b.WriteByte('\'')
				} else {
					b.WriteByte(c)
					b.WriteByte(s[i+1])
				}
				i++
			case c == quote:
				b.WriteByte('"')
				quote = 0
			case c == '"': // inside a single-quoted string
				b.WriteString(`\"`)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20:
				fmt.Fprintf(&b, `\u%04x`, c)
			default:
				b.WriteByte(c)
			}
			continue
		}
		switch c {
		case '"', '\'':
			quote = c
			b.WriteByte('"')
		case ',':
			j := i + 1
			for j < len(s) && strings.IndexByte(" \t\r\n", s[j]) >= 0 {
				j++
			}
			if j < len(s) && (s[j] == '}' || s[j] == ']') {
				continue
			}
			b.WriteByte(c)
		default:
			if w, lit, ok := pythonLiteral(s, i); ok {
				b.WriteString(lit)
				i += len(w) - 1
				continue
			}
			b.WriteByte(c)
		}
	}
	return b.String()
}

func pythonLiteral(s string, i int) (word, lit string, ok bool) {
	if i > 0 && isWord(s[i-1]) {
		return "", "", false
	}
	for _, p := range [...][2]string{{"True", "true"}, {"False", "false"}, {"None", "null"}} {
		if strings.HasPrefix(s[i:], p[0]) && (i+len(p[0]) == len(s) || !isWord(s[i+len(p[0])])) {
			return p[0], p[1], true
		}
	}
	return "", "", false
}

func isWord(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
