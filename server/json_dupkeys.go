package server

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/bulwark-agents/bulwark"
)

// refuseDuplicateKeys returns an Invalid error when a JSON object in body,
// at any depth, names a key twice. encoding/json keeps the last of
// duplicate keys and matches field names without regard to case, so
// {"role":"viewer","ROLE":"owner"} would be read as one thing by a proxy
// or a log and as another here: a body that two readers can read two ways
// is refused. Keys are compared the way encoding/json matches them (case
// folded). Malformed JSON is left to the decoder, which says where it is
// wrong; the message never repeats the key.
func refuseDuplicateKeys(op string, body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	// Each open container: nil for an array, the keys seen for an object.
	var stack []map[string]bool
	// keyNext, per container: the next string token is a key (objects
	// alternate key and value; the decoder has checked the order).
	var keyNext []bool
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // the end, or malformed: decodeJSON reports it
		}
		top := len(stack) - 1
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				if top >= 0 && stack[top] != nil {
					keyNext[top] = true // this object is the value of a key
				}
				stack = append(stack, map[string]bool{})
				keyNext = append(keyNext, true)
			case '[':
				if top >= 0 && stack[top] != nil {
					keyNext[top] = true
				}
				stack = append(stack, nil)
				keyNext = append(keyNext, false)
			default: // '}' or ']'
				stack, keyNext = stack[:top], keyNext[:top]
			}
		case string:
			if top >= 0 && stack[top] != nil && keyNext[top] {
				k := strings.ToLower(strings.ToUpper(t))
				if stack[top][k] {
					return bulwark.Errorf(bulwark.Invalid, op, "the body names a field twice: send each field once")
				}
				stack[top][k] = true
				keyNext[top] = false
				continue
			}
			if top >= 0 && stack[top] != nil {
				keyNext[top] = true
			}
		default:
			if top >= 0 && stack[top] != nil {
				keyNext[top] = true
			}
		}
	}
}
