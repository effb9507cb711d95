// Package htmltok splits HTML into text and tags for tool/web: HTMLText
// reads a fetched page's text from it and charset.go prescans its <meta>
// tags for the page's charset.
//
// It follows the tokenization algorithm of the WHATWG HTML Standard
// (section 13.2.5) with a state machine over a byte slice, and returns the
// tokens x/net/html's tokenizer returns with its default settings, so that
// tool/web reads pages as it did on x/net/html. It exists because linking
// x/net/html cost every bulwark command its package initialisation (the
// entity map built at init); see BENCHMARKS.md, "Start-up". This package
// builds nothing at init: character references are decoded by the
// standard library's html package, whose table is built on first use.
package htmltok

import (
	"bytes"
	"strings"
)

// Type is the kind of a token.
type Type uint8

const (
	// Text is character data; its Data has character references decoded,
	// except in raw text (script, style and the like).
	Text Type = iota + 1
	// StartTag is a tag such as <p class="x">.
	StartTag
	// EndTag is a tag such as </p>; it never has attributes.
	EndTag
	// SelfClosingTag is a start tag whose '>' follows a '/', such as <br/>.
	SelfClosingTag
)

// Attr is an attribute of a start tag.
type Attr struct {
	Key string // lower-cased
	Val string // character references decoded by the attribute rules
}

// Token is a piece of the page: text or a tag.
type Token struct {
	Type Type
	Data string // the text, or the lower-cased tag name
	Attr []Attr
}

// rawKind says how the text after a start tag such as <script> ends and
// what is decoded in it.
type rawKind uint8

const (
	notRaw    rawKind = iota
	rawText           // style, xmp, iframe, noembed, noframes, noscript
	rcdata            // textarea, title: references decoded
	scriptRaw         // script, with its escaped states
	plainText         // plaintext: everything to the end
)

// Tokenizer returns the tokens of a page one at a time.
type Tokenizer struct {
	b   []byte
	pos int
	// raw is set after a start tag whose content is not markup; rawName
	// is that tag's lower-cased name, which ends the content.
	raw     rawKind
	rawName string
	done    bool
}

// New returns a Tokenizer over b. It does not modify b.
func New(b []byte) *Tokenizer {
	return &Tokenizer{b: b}
}

// Next returns the next token and true, or false at the end of the input.
// Comments, doctypes and processing instructions are skipped; a tag cut
// off by the end of the input ends the tokens.
func (z *Tokenizer) Next() (Token, bool) {
	if z.done {
		return Token{}, false
	}
	if z.raw != notRaw {
		kind, name := z.raw, z.rawName
		z.raw, z.rawName = notRaw, ""
		start := z.pos
		z.pos = rawEnd(z.b, start, kind, name)
		if z.pos > start {
			return Token{Type: Text, Data: rawTextData(z.b[start:z.pos], kind)}, true
		}
	}
	for z.pos < len(z.b) {
		start := z.pos
		i := markupStart(z.b, start)
		if i > start {
			// Text runs up to whatever the '<' opens, which comes as the
			// next token (x/net/html splits text there even when the
			// markup turns out to be cut off).
			z.pos = i
			return Token{Type: Text, Data: unescape(string(normalizeNewlines(z.b[start:i])), false)}, true
		}
		// z.b[i] is '<' and z.b[i+1] opens a tag, end tag or declaration.
		switch c := z.b[i+1]; {
		case isAlpha(c):
			return z.tag(i+1, false)
		case c == '/':
			switch {
			case i+2 == len(z.b):
				// "</" at the end is text (end tag open state, EOF).
				z.pos = len(z.b)
				return Token{Type: Text, Data: "</"}, true
			case z.b[i+2] == '>':
				// "</>" is dropped.
				z.pos = i + 3
			case isAlpha(z.b[i+2]):
				return z.tag(i+2, true)
			default:
				z.pos = bogusCommentEnd(z.b, i+2)
			}
		case c == '!':
			if bytes.HasPrefix(z.b[i+2:], []byte("--")) {
				z.pos = commentEnd(z.b, i+4)
			} else {
				// DOCTYPE, CDATA outside foreign content and anything
				// else after "<!" all end at the first '>'.
				z.pos = bogusCommentEnd(z.b, i+2)
			}
		default: // '?'
			z.pos = bogusCommentEnd(z.b, i+1)
		}
	}
	z.done = true
	return Token{}, false
}

// markupStart returns the index of the first '<' at or after i that opens
// a tag, an end tag, a comment, a declaration or a processing instruction
// (the tag open state's cases other than "anything else"), or len(b).
func markupStart(b []byte, i int) int {
	for {
		j := bytes.IndexByte(b[i:], '<')
		if j < 0 {
			return len(b)
		}
		i += j
		if i+1 < len(b) {
			if c := b[i+1]; isAlpha(c) || c == '/' || c == '!' || c == '?' {
				return i
			}
		}
		i++
	}
}

// bogusCommentEnd returns the index after the first '>' at or after i, or
// len(b): the bogus comment state and the DOCTYPE states end there.
func bogusCommentEnd(b []byte, i int) int {
	if j := bytes.IndexByte(b[i:], '>'); j >= 0 {
		return i + j + 1
	}
	return len(b)
}

// commentEnd runs the comment states from i, just after "<!--", and
// returns the index after the comment (len(b) at EOF). The comment
// less-than sign states only report nested comments and end where the
// plain comment states would, so they are left out.
func commentEnd(b []byte, i int) int {
	const (
		start = iota
		startDash
		comment
		endDash
		end
		endBang
	)
	state := start
	for ; i < len(b); i++ {
		c := b[i]
		switch state {
		case start, startDash:
			switch {
			case c == '-' && state == start:
				state = startDash
			case c == '-':
				state = end
			case c == '>':
				return i + 1 // abrupt closing of empty comment
			default:
				state = comment
			}
		case comment:
			if c == '-' {
				state = endDash
			}
		case endDash:
			if c == '-' {
				state = end
			} else {
				state = comment
			}
		case end:
			switch c {
			case '>':
				return i + 1
			case '!':
				state = endBang
			case '-':
			default:
				state = comment
			}
		case endBang:
			switch c {
			case '-':
				state = endDash
			case '>':
				return i + 1
			default:
				state = comment
			}
		}
	}
	return len(b)
}

// tag reads the tag whose name starts at b[i] (an ASCII letter), through
// the tag name, attribute and self-closing start tag states. At the end of
// the input inside the tag there is no token, and none after it.
func (z *Tokenizer) tag(i int, endTag bool) (Token, bool) {
	const (
		tagName = iota
		beforeAttrName
		attrName
		afterAttrName
		beforeAttrValue
		attrValueDouble
		attrValueSingle
		attrValueUnquoted
		afterAttrValueQuoted
		selfClosingStart
	)
	b := z.b
	nameStart, nameEnd := i, -1
	var attrs []Attr
	var seen keySet
	keyStart, keyEnd, valStart := 0, 0, 0
	// addAttr adds the attribute whose value ends at valEnd, and reports
	// whether it was dropped as a duplicate (the first one counts).
	addAttr := func(valEnd int) (dropped bool) {
		if endTag {
			return false
		}
		key := replaceNUL(lower(b[keyStart:keyEnd]))
		if seen.has(key, attrs) {
			return true
		}
		val := ""
		if valStart < valEnd {
			val = replaceNUL(unescape(string(normalizeNewlines(b[valStart:valEnd])), true))
		}
		attrs = append(attrs, Attr{Key: key, Val: val})
		return false
	}
	state := tagName
	for ; i < len(b); i++ {
		c := b[i]
		switch state {
		case tagName:
			switch {
			case isSpace(c):
				nameEnd, state = i, beforeAttrName
			case c == '/':
				nameEnd, state = i, selfClosingStart
			case c == '>':
				nameEnd = i
				return z.emitTag(b[nameStart:nameEnd], endTag, false, attrs, i+1)
			}
		case beforeAttrName:
			switch {
			case isSpace(c):
			case c == '/':
				state = selfClosingStart
			case c == '>':
				return z.emitTag(b[nameStart:nameEnd], endTag, false, attrs, i+1)
			default:
				// '=' here starts a name too.
				keyStart, state = i, attrName
			}
		case attrName:
			switch {
			case isSpace(c):
				keyEnd, state = i, afterAttrName
			case c == '/':
				keyEnd, valStart = i, i
				addAttr(i)
				state = selfClosingStart
			case c == '>':
				keyEnd, valStart = i, i
				addAttr(i)
				return z.emitTag(b[nameStart:nameEnd], endTag, false, attrs, i+1)
			case c == '=':
				keyEnd, state = i, beforeAttrValue
			}
		case afterAttrName:
			switch {
			case isSpace(c):
			case c == '/':
				valStart = i
				addAttr(i)
				state = selfClosingStart
			case c == '=':
				state = beforeAttrValue
			case c == '>':
				valStart = i
				addAttr(i)
				return z.emitTag(b[nameStart:nameEnd], endTag, false, attrs, i+1)
			default:
				valStart = i
				addAttr(i)
				keyStart, state = i, attrName
			}
		case beforeAttrValue:
			switch {
			case isSpace(c):
			case c == '"':
				valStart, state = i+1, attrValueDouble
			case c == '\'':
				valStart, state = i+1, attrValueSingle
			case c == '>':
				valStart = i
				addAttr(i)
				return z.emitTag(b[nameStart:nameEnd], endTag, false, attrs, i+1)
			default:
				valStart, state = i, attrValueUnquoted
			}
		case attrValueDouble, attrValueSingle:
			if c == '"' && state == attrValueDouble || c == '\'' && state == attrValueSingle {
				addAttr(i)
				state = afterAttrValueQuoted
			}
		case attrValueUnquoted:
			switch {
			case isSpace(c):
				addAttr(i)
				state = beforeAttrName
			case c == '>':
				// The spec reads "<p a=/>" as a start tag with a="/".
				// x/net/html calls a tag self-closing when its '>' follows
				// a '/' unless that '/' ends the last attribute it kept,
				// so a dropped duplicate's "/" makes it self-closing.
				selfClosing := addAttr(i) && b[i-1] == '/'
				return z.emitTag(b[nameStart:nameEnd], endTag, selfClosing, attrs, i+1)
			}
		case afterAttrValueQuoted:
			switch {
			case isSpace(c):
				state = beforeAttrName
			case c == '/':
				state = selfClosingStart
			case c == '>':
				return z.emitTag(b[nameStart:nameEnd], endTag, false, attrs, i+1)
			default:
				keyStart, state = i, attrName
			}
		case selfClosingStart:
			if c == '>' {
				return z.emitTag(b[nameStart:nameEnd], endTag, true, attrs, i+1)
			}
			// Reconsume in the before attribute name state.
			i--
			state = beforeAttrName
		}
	}
	z.pos, z.done = len(b), true
	return Token{}, false
}

// emitTag returns the tag token, moves past it to next and, after a start
// tag whose content is text, sets the tokenizer to read that text.
func (z *Tokenizer) emitTag(name []byte, endTag, selfClosing bool, attrs []Attr, next int) (Token, bool) {
	z.pos = next
	tok := Token{Type: StartTag, Data: replaceNUL(lower(name)), Attr: attrs}
	switch {
	case endTag:
		return Token{Type: EndTag, Data: tok.Data}, true
	case selfClosing:
		tok.Type = SelfClosingTag
	}
	// As x/net/html, a self-closing <script/> starts raw text too (the
	// tree builder ignores the '/' on these elements).
	if k := rawKindOf(tok.Data); k != notRaw {
		z.raw, z.rawName = k, tok.Data
	}
	return tok, true
}

// rawKindOf returns how the content after a start tag named name is read.
func rawKindOf(name string) rawKind {
	switch name {
	case "textarea", "title":
		return rcdata
	case "script":
		return scriptRaw
	case "style", "xmp", "iframe", "noembed", "noframes", "noscript":
		return rawText
	case "plaintext":
		return plainText
	}
	return notRaw
}

// isSpace reports whether c is whitespace in the tokenizer's sense: tab,
// LF, FF, space, and CR (which input preprocessing turns into LF).
func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\t' || c == '\f' || c == '\r'
}

func isAlpha(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// keySet tells whether a tag already has an attribute: by a look through
// the few attributes of most tags, and by a map built for the tag that has
// many, so a tag of n attributes costs O(n), not O(n²).
type keySet struct{ m map[string]bool }

// has reports whether key is among attrs, and records it if not.
func (s *keySet) has(key string, attrs []Attr) bool {
	const few = 16
	if s.m == nil && len(attrs) < few {
		for _, a := range attrs {
			if a.Key == key {
				return true
			}
		}
		return false
	}
	if s.m == nil {
		s.m = make(map[string]bool, 2*len(attrs))
		for _, a := range attrs {
			s.m[a.Key] = true
		}
	}
	if s.m[key] {
		return true
	}
	s.m[key] = true
	return false
}

// replaceNUL returns s with each NUL made U+FFFD, as the tokenizer does in
// tag names, attribute names and values.
func replaceNUL(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// lower returns s with ASCII upper-case letters lower-cased, as the
// tokenizer does to tag and attribute names; other bytes are kept.
func lower(s []byte) string {
	for i, c := range s {
		if 'A' <= c && c <= 'Z' {
			t := []byte(string(s[i:]))
			for j, c := range t {
				if 'A' <= c && c <= 'Z' {
					t[j] = c + 'a' - 'A'
				}
			}
			return string(s[:i]) + string(t)
		}
	}
	return string(s)
}

// normalizeNewlines returns s with CRLF and lone CR made LF, as input
// preprocessing does. It copies s only when there is a CR.
func normalizeNewlines(s []byte) []byte {
	i := bytes.IndexByte(s, '\r')
	if i < 0 {
		return s
	}
	out := append([]byte(nil), s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c == '\r' {
			if i+1 < len(s) && s[i+1] == '\n' {
				continue
			}
			c = '\n'
		}
		out = append(out, c)
	}
	return out
}
