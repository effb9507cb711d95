package llmtest

import (
	"strconv"
	"unicode/utf8"
)

// appendChunk appends c as JSON, as json.Marshal would write it apart from
// escaping: the same fields in the same order, strings with the same
// content. It is the fake server's encoder for the events it sends most,
// written out because reflection was a good part of its CPU in `bulwark
// bench agents`. It handles chunks whose arguments are JSON strings and
// that carry no usage; encodeChunk sends the others to json.Marshal.
// TestAppendChunk compares the two.
func appendChunk(b []byte, c *oaChunk) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, c.ID)
	b = append(b, `,"object":`...)
	b = appendString(b, c.Object)
	b = append(b, `,"created":`...)
	b = strconv.AppendInt(b, c.Created, 10)
	b = append(b, `,"model":`...)
	b = appendString(b, c.Model)
	b = append(b, `,"choices":`...)
	if c.Choices == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, ch := range c.Choices {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"index":`...)
			b = strconv.AppendInt(b, int64(ch.Index), 10)
			b = append(b, `,"delta":`...)
			b = appendDelta(b, &ch.Delta)
			b = append(b, `,"finish_reason":`...)
			if ch.FinishReason == nil {
				b = append(b, "null"...)
			} else {
				b = appendString(b, *ch.FinishReason)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendDelta(b []byte, d *oaDelta) []byte {
	b = append(b, '{')
	comma := false
	field := func(name string) {
		if comma {
			b = append(b, ',')
		}
		comma = true
		b = append(append(append(b, '"'), name...), `":`...)
	}
	if d.Role != "" {
		field("role")
		b = appendString(b, d.Role)
	}
	if d.Content != nil {
		field("content")
		b = appendString(b, *d.Content)
	}
	if len(d.ToolCalls) > 0 {
		field("tool_calls")
		b = append(b, '[')
		for i, tc := range d.ToolCalls {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			inner := false
			sub := func(name string) {
				if inner {
					b = append(b, ',')
				}
				inner = true
				b = append(append(append(b, '"'), name...), `":`...)
			}
			if tc.Index != nil {
				sub("index")
				b = strconv.AppendInt(b, int64(*tc.Index), 10)
			}
			if tc.ID != "" {
				sub("id")
				b = appendString(b, tc.ID)
			}
			if tc.Type != "" {
				sub("type")
				b = appendString(b, tc.Type)
			}
			sub("function")
			b = append(b, '{')
			if tc.Function.Name != "" {
				b = append(b, `"name":`...)
				b = appendString(b, tc.Function.Name)
				if len(tc.Function.Arguments) > 0 {
					b = append(b, ',')
				}
			}
			if len(tc.Function.Arguments) > 0 {
				b = append(append(b, `"arguments":`...), tc.Function.Arguments...)
			}
			b = append(b, "}}"...)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendString appends s as a JSON string. Like json.Marshal it writes
// each byte that is not UTF-8 as U+FFFD; unlike it, it leaves <, > and &
// unescaped, which reads the same.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+n]...)
			}
			i += n
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, `\n`...)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xF])
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}
