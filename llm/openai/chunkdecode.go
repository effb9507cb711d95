package openai

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// decodeChunk fills c from data, a chunk as servers send it, without
// encoding/json's reflection, which was most of the CPU of reading a stream.
// It reports false, leaving c in any state, for anything it is not sure to
// read exactly as json.Unmarshal would: then the caller decodes with
// json.Unmarshal, which also gives the error for malformed data. So it
// never accepts what json.Unmarshal refuses and never reads a value
// differently (FuzzDecodeChunk holds it to that); what it gives up on is
// only slower.
//
// It gives up on: keys with escapes or non-ASCII bytes, keys that differ
// from a known field only in case (encoding/json would match them), a
// known field given twice, "error" (a stream error, rare), strings decoded
// into Go strings (id, name, finish_reason) that have escapes or invalid
// UTF-8, numbers that are not plain integers where an int goes, values of
// the wrong type, nesting deeper than maxSkipDepth, and trailing data.
//
// The raw values it keeps (content, refusal, arguments) alias data, as
// json.RawMessage would not: they are valid until data changes, which Add
// allows, since it copies what it keeps before it returns.
func decodeChunk(data []byte, c *chunk) bool {
	return decodeChunkReusing(data, c, nil)
}

// chunkScratch holds what decodeChunkReusing decoded last, for the next
// chunk to reuse: its choices and deltas, with their tool call slices.
type chunkScratch struct {
	choices []chunkChoice
	deltas  [2]delta           // a choice's delta and message
	calls   [2][]toolCallDelta // the arrays of their ToolCalls
	n       int                // deltas in use
}

// decodeChunkReusing is decodeChunk reusing the choices and deltas of
// the chunk sc last held (sc nil: none), which must no longer be in use:
// an Accumulator reads a chunk before it decodes the next.
// FuzzDecodeChunk holds it to decodeChunk.
func decodeChunkReusing(data []byte, c *chunk, sc *chunkScratch) bool {
	if sc != nil {
		sc.n = 0
	}
	s := scanner{b: data, sc: sc}
	seen := 0
	ok := s.object(func(key []byte) bool {
		switch string(key) {
		case "choices":
			if !once(&seen, 1) {
				return false
			}
			return s.choices(&c.Choices)
		case "usage":
			if !once(&seen, 2) {
				return false
			}
			if s.null() {
				c.Usage = nil
				return true
			}
			c.Usage = new(chunkUsage)
			return s.usage(c.Usage)
		}
		return s.unknown(key, "choices", "usage", "error")
	})
	s.ws()
	return ok && s.i == len(s.b)
}

// maxSkipDepth bounds the nesting of values decodeChunk skips; deeper
// values go to json.Unmarshal.
const maxSkipDepth = 32

// scanner reads JSON from b at i. Each method reports false when the input
// is not what it reads, or not valid JSON.
type scanner struct {
	b  []byte
	i  int
	sc *chunkScratch // nil: allocate
}

// once records bit in seen and reports whether it was not there before.
func once(seen *int, bit int) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) consume(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// null reads a null if one comes next.
func (s *scanner) null() bool {
	if s.peek() == 'n' && bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return true
	}
	return false
}

// object reads an object, calling field with each key (without its quotes)
// when the scanner is at the value, which field must read.
func (s *scanner) object(field func(key []byte) bool) bool {
	if !s.consume('{') {
		return false
	}
	if s.consume('}') {
		return true
	}
	for {
		s.ws()
		key, esc, ok := s.str()
		if !ok || esc {
			return false
		}
		if !s.consume(':') {
			return false
		}
		s.ws()
		if !field(key) {
			return false
		}
		if s.consume(',') {
			continue
		}
		return s.consume('}')
	}
}

// array reads an array, calling elem at each element, which elem must read.
func (s *scanner) array(elem func() bool) bool {
	if !s.consume('[') {
		return false
	}
	if s.consume(']') {
		return true
	}
	for {
		s.ws()
		if !elem() {
			return false
		}
		if s.consume(',') {
			continue
		}
		return s.consume(']')
	}
}

// unknown skips the value of a key that is none of known, and refuses a
// key encoding/json would match to one of them anyway (it ignores case).
func (s *scanner) unknown(key []byte, known ...string) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return false // encoding/json folds some non-ASCII letters to ASCII ones
		}
	}
	for _, k := range known {
		if bytes.EqualFold(key, []byte(k)) {
			return false
		}
	}
	_, ok := s.value(0)
	return ok
}

// str reads a string and returns its bytes between the quotes, and whether
// it has escapes. The escapes are checked, not decoded.
func (s *scanner) str() (in []byte, esc, ok bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false, false
	}
	start := s.i + 1
	for i := start; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			return s.b[start:i], esc, true
		case c == '\\':
			esc = true
			i++
			if i >= len(s.b) {
				return nil, false, false
			}
			switch s.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s.b) {
					return nil, false, false
				}
				for _, h := range s.b[i+1 : i+5] {
					if !isHex(h) {
						return nil, false, false
					}
				}
				i += 4
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		}
	}
	return nil, false, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// goString reads a string, or a null (which leaves *dst alone), into *dst
// when it needs no decoding: no escapes and valid UTF-8, so that its bytes
// are what json.Unmarshal would give.
func (s *scanner) goString(dst *string) bool {
	if s.null() {
		return true
	}
	in, esc, ok := s.str()
	if !ok || esc || !utf8.Valid(in) {
		return false
	}
	*dst = string(in)
	return true
}

// number reads a JSON number and returns its text.
func (s *scanner) number() ([]byte, bool) {
	b, i := s.b, s.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	s.i = i
	return b[start:i], true
}

// integer reads a plain integer that fits an int (at most 18 digits, no
// fraction or exponent), or a null, which leaves *dst alone.
func (s *scanner) integer(dst *int) bool {
	if s.null() {
		return true
	}
	n, ok := s.number()
	if !ok || len(n) > 18 || bytes.ContainsAny(n, ".eE") {
		return false
	}
	v, err := strconv.Atoi(string(n))
	if err != nil {
		return false
	}
	*dst = v
	return true
}

// value reads any JSON value and returns its text.
func (s *scanner) value(depth int) ([]byte, bool) {
	if depth > maxSkipDepth {
		return nil, false
	}
	start := s.i
	ok := false
	switch s.peek() {
	case '{':
		ok = s.object(func([]byte) bool { _, ok := s.value(depth + 1); return ok })
	case '[':
		ok = s.array(func() bool { _, ok := s.value(depth + 1); return ok })
	case '"':
		_, _, ok = s.str()
	case 't':
		ok = s.literal("true")
	case 'f':
		ok = s.literal("false")
	case 'n':
		ok = s.null()
	default:
		_, ok = s.number()
	}
	return s.b[start:s.i], ok
}

func (s *scanner) literal(word string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		s.i += len(word)
		return true
	}
	return false
}

// raw reads any value as a json.RawMessage field would hold it.
func (s *scanner) raw(dst *json.RawMessage) bool {
	v, ok := s.value(0)
	if ok {
		*dst = v
	}
	return ok
}

func (s *scanner) choices(dst *[]chunkChoice) bool {
	if s.null() {
		*dst = nil
		return true
	}
	out := []chunkChoice{}
	if s.sc != nil && s.sc.choices != nil {
		out = s.sc.choices[:0]
	}
	ok := s.array(func() bool {
		var ch chunkChoice
		if !s.choice(&ch) {
			return false
		}
		out = append(out, ch)
		return true
	})
	*dst = out
	if s.sc != nil {
		s.sc.choices = out
	}
	return ok
}

func (s *scanner) choice(ch *chunkChoice) bool {
	seen := 0
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "index":
			return once(&seen, 1) && s.integer(&ch.Index)
		case "delta":
			return once(&seen, 2) && s.delta(&ch.Delta)
		case "message":
			return once(&seen, 4) && s.delta(&ch.Message)
		case "finish_reason":
			if !once(&seen, 8) {
				return false
			}
			if s.null() {
				ch.FinishReason = nil
				return true
			}
			var f string
			if !s.goString(&f) {
				return false
			}
			ch.FinishReason = &f
			return true
		}
		return s.unknown(key, "index", "delta", "message", "finish_reason")
	})
}

func (s *scanner) delta(dst **delta) bool {
	if s.null() {
		*dst = nil
		return true
	}
	d, k := s.newDelta()
	*dst = d
	seen := 0
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "content":
			return once(&seen, 1) && s.raw(&d.Content)
		case "refusal":
			return once(&seen, 2) && s.raw(&d.Refusal)
		case "tool_calls":
			if !once(&seen, 4) {
				return false
			}
			if s.null() {
				d.ToolCalls = nil
				return true
			}
			d.ToolCalls = []toolCallDelta{}
			if k >= 0 && s.sc.calls[k] != nil {
				d.ToolCalls = s.sc.calls[k][:0]
			}
			ok := s.array(func() bool {
				var tc toolCallDelta
				if !s.toolCall(&tc) {
					return false
				}
				d.ToolCalls = append(d.ToolCalls, tc)
				return true
			})
			if k >= 0 {
				s.sc.calls[k] = d.ToolCalls
			}
			return ok
		}
		return s.unknown(key, "content", "refusal", "tool_calls")
	})
}

func (s *scanner) toolCall(tc *toolCallDelta) bool {
	seen := 0
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "index":
			if !once(&seen, 1) {
				return false
			}
			if s.null() {
				tc.Index = nil
				return true
			}
			var n int
			if !s.integer(&n) {
				return false
			}
			tc.Index = &n
			return true
		case "id":
			return once(&seen, 2) && s.goString(&tc.ID)
		case "function":
			if !once(&seen, 4) {
				return false
			}
			if s.null() {
				return true // null leaves a struct alone
			}
			fseen := 0
			return s.object(func(key []byte) bool {
				switch string(key) {
				case "name":
					return once(&fseen, 1) && s.goString(&tc.Function.Name)
				case "arguments":
					return once(&fseen, 2) && s.raw(&tc.Function.Arguments)
				}
				return s.unknown(key, "name", "arguments")
			})
		}
		return s.unknown(key, "index", "id", "function")
	})
}

func (s *scanner) usage(u *chunkUsage) bool {
	seen := 0
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "prompt_tokens":
			return once(&seen, 1) && s.integer(&u.PromptTokens)
		case "completion_tokens":
			return once(&seen, 2) && s.integer(&u.CompletionTokens)
		case "cost":
			if !once(&seen, 4) {
				return false
			}
			if s.null() {
				return true
			}
			n, ok := s.number()
			if !ok {
				return false
			}
			v, err := strconv.ParseFloat(string(n), 64)
			if err != nil {
				return false
			}
			u.Cost = v
			return true
		}
		return s.unknown(key, "prompt_tokens", "completion_tokens", "cost")
	})
}

// newDelta returns a new delta, reused if it can be, and its number in
// s.sc (-1 when not reused).
func (s *scanner) newDelta() (*delta, int) {
	sc := s.sc
	if sc == nil || sc.n == len(sc.deltas) {
		return new(delta), -1
	}
	k := sc.n
	sc.n++
	sc.deltas[k] = delta{}
	return &sc.deltas[k], k
}
