package htmltok

import "bytes"

// rawEnd returns where the text that starts at b[i] after a start tag
// named name ends: at the "</" of its appropriate end tag (the name in any
// case followed by whitespace, '/' or '>'), or at len(b). For script this
// runs the script data states, escaped and double-escaped included, so an
// end tag inside "<!--<script>...-->" does not end it.
func rawEnd(b []byte, i int, kind rawKind, name string) int {
	switch kind {
	case plainText:
		return len(b)
	case scriptRaw:
		return scriptEnd(b, i)
	}
	for {
		j := bytes.Index(b[i:], []byte("</"))
		if j < 0 {
			return len(b)
		}
		i += j
		if isEndTagOf(b, i, name) {
			return i
		}
		i += 2
	}
}

// isEndTagOf reports whether b[i:] starts with "</", name in any ASCII
// case, and whitespace, '/' or '>': the appropriate end tag that leaves
// the RCDATA, RAWTEXT and script data states. Cut off by the end of the
// input it is not one.
func isEndTagOf(b []byte, i int, name string) bool {
	if len(b)-i < len(name)+3 || b[i] != '<' || b[i+1] != '/' {
		return false
	}
	for k := 0; k < len(name); k++ {
		c := b[i+2+k]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[k] {
			return false
		}
	}
	c := b[i+2+len(name)]
	return isSpace(c) || c == '/' || c == '>'
}

// scriptEnd runs the script data states from b[i] and returns the index
// of the "</script" that ends the script, or len(b).
func scriptEnd(b []byte, i int) int {
	const (
		data = iota
		escaped
		escapedDash
		escapedDashDash
		doubleEscaped
		doubleEscapedDash
		doubleEscapedDashDash
	)
	state := data
	for i < len(b) {
		c := b[i]
		switch state {
		case data:
			j := bytes.IndexByte(b[i:], '<')
			if j < 0 {
				return len(b)
			}
			i += j
			if isEndTagOf(b, i, "script") {
				return i
			}
			// Script data escape start: "<!--" leaves us in the escaped
			// dash dash state, so "<!-->" goes straight back to data.
			if bytes.HasPrefix(b[i+1:], []byte("!--")) {
				i += 4
				state = escapedDashDash
				continue
			}
			i++
			continue
		case escaped, escapedDash, escapedDashDash:
			switch {
			case c == '-':
				if state == escaped {
					state = escapedDash
				} else {
					state = escapedDashDash
				}
			case c == '<':
				if isEndTagOf(b, i, "script") {
					return i
				}
				// Script data escaped less-than sign state.
				state = escaped
				if n := scriptTagName(b, i+1); n == "script" {
					// Script data double escape start.
					state = doubleEscaped
					i += 1 + len(n) + 1 // the delimiter is consumed too
					continue
				}
				if i+1 < len(b) && b[i+1] != '/' && !isAlpha(b[i+1]) {
					// The spec reconsumes anything else in the escaped
					// state; x/net/html goes back to script data, so
					// "<!--<<script>" has no double escape there and
					// "<!--< -->" no escape after "< ".
					state = data
				}
			case c == '>' && state == escapedDashDash:
				state = data
			default:
				state = escaped
			}
		default: // double escaped
			switch {
			case c == '-':
				if state == doubleEscaped {
					state = doubleEscapedDash
				} else {
					state = doubleEscapedDashDash
				}
			case c == '<':
				state = doubleEscaped
				if i+1 < len(b) && b[i+1] == '/' {
					if n := scriptTagName(b, i+2); n == "script" {
						// Script data double escape end.
						state = escaped
						i += 2 + len(n) + 1
						continue
					}
				}
			case c == '>' && state == doubleEscapedDashDash:
				state = data
			default:
				state = doubleEscaped
			}
		}
		i++
	}
	return len(b)
}

// scriptTagName returns "script" when b[i:] starts with "script" in any
// ASCII case followed by whitespace, '/' or '>' (the double escape start
// and end states' test), and "" otherwise.
func scriptTagName(b []byte, i int) string {
	const name = "script"
	if len(b)-i < len(name)+1 {
		return ""
	}
	for k := 0; k < len(name); k++ {
		c := b[i+k]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[k] {
			return ""
		}
	}
	if c := b[i+len(name)]; isSpace(c) || c == '/' || c == '>' {
		return name
	}
	return ""
}

// rawTextData returns the Data of a text token read after a raw start
// tag: newlines normalized, NUL made U+FFFD (the RCDATA, RAWTEXT, script
// data and PLAINTEXT states' rule) and, in RCDATA, references decoded.
func rawTextData(s []byte, kind rawKind) string {
	s = normalizeNewlines(s)
	if bytes.IndexByte(s, 0) >= 0 {
		s = bytes.ReplaceAll(s, []byte{0}, []byte("\uFFFD"))
	}
	if kind == rcdata {
		return unescape(string(s), false)
	}
	return string(s)
}
