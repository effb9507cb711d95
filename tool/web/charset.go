package web

import (
	"bytes"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark/tool/web/internal/htmltok"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// pageCharset is the character encoding of a page, found as browsers find
// it (WHATWG "encoding sniffing", as golang.org/x/net/html/charset does).
type pageCharset struct {
	// name is the WHATWG name of the encoding: "utf-8", "windows-1252",
	// "shift_jis". It is always one of the constants of charsetLabel, never
	// text from the page.
	name string
	// enc decodes the page; nil when its bytes are kept as they are, which
	// UTF-8 needs and a charset we cannot decode gets (then unsupported).
	enc         encoding.Encoding
	unsupported bool
}

// determineCharset finds the encoding of a page from, in order, a byte
// order mark, the charset parameter of contentType, a <meta> charset in the
// first 1024 bytes, and else UTF-8 if those bytes are valid UTF-8 with some
// non-ASCII, windows-1252 if not. Labels no one knows are skipped, as
// browsers skip them. It is x/net/html/charset's DetermineEncoding without
// the encodings this binary does not link (charsetLabel).
func determineCharset(content []byte, contentType string) pageCharset {
	if len(content) > 1024 {
		content = content[:1024]
	}
	switch {
	case bytes.HasPrefix(content, []byte{0xfe, 0xff}):
		return lookupCharset("utf-16be")
	case bytes.HasPrefix(content, []byte{0xff, 0xfe}):
		return lookupCharset("utf-16le")
	case bytes.HasPrefix(content, []byte{0xef, 0xbb, 0xbf}):
		return lookupCharset("utf-8")
	}
	if _, params, err := mime.ParseMediaType(contentType); err == nil {
		if cs, ok := params["charset"]; ok {
			if c := lookupCharset(cs); c.name != "" {
				return c
			}
		}
	}
	if c := prescanCharset(content); c.name != "" {
		return c
	}
	// UTF-8 if the bytes are valid UTF-8 once a rune cut at the end is
	// dropped, and not plain ASCII.
	for i := len(content) - 1; i >= 0 && i > len(content)-4; i-- {
		if b := content[i]; b < utf8.RuneSelf {
			break
		} else if utf8.RuneStart(b) {
			content = content[:i]
			break
		}
	}
	if bytes.ContainsFunc(content, func(r rune) bool { return r >= utf8.RuneSelf }) && utf8.Valid(content) {
		return lookupCharset("utf-8")
	}
	return lookupCharset("windows-1252")
}

// prescanCharset finds the charset that a <meta charset> or a <meta
// http-equiv="content-type" content="...; charset=..."> names in content
// (WHATWG "prescan a byte stream"), or none. A page cannot say it is
// UTF-16 this way: its bytes were read as ASCII to find the tag, so it is
// UTF-8.
func prescanCharset(content []byte) pageCharset {
	z := htmltok.New(content)
	for {
		tok, ok := z.Next()
		if !ok {
			return pageCharset{}
		}
		if tok.Type != htmltok.StartTag && tok.Type != htmltok.SelfClosingTag || tok.Data != "meta" {
			continue
		}
		var (
			c          pageCharset
			gotPragma  bool
			needPragma bool // the charset came from content=, which needs http-equiv
			found      bool
		)
		for _, a := range tok.Attr {
			val := asciiLower(a.Val)
			switch a.Key {
			case "http-equiv":
				gotPragma = gotPragma || val == "content-type"
			case "content":
				if c.name == "" {
					if label := charsetFromMeta(val); label != "" {
						if c = lookupCharset(label); c.name != "" {
							needPragma, found = true, true
						}
					}
				}
			case "charset":
				c = lookupCharset(val)
				needPragma, found = false, true
			}
		}
		if !found || needPragma && !gotPragma {
			continue
		}
		if strings.HasPrefix(c.name, "utf-16") {
			c = lookupCharset("utf-8")
		}
		if c.name != "" {
			return c
		}
	}
}

// charsetFromMeta returns the charset named in the content attribute of a
// <meta http-equiv="content-type">: "text/html; charset=koi8-r" gives
// "koi8-r" (WHATWG "extracting a character encoding from a meta element").
func charsetFromMeta(s string) string {
	for s != "" {
		i := strings.Index(s, "charset")
		if i < 0 {
			return ""
		}
		s = strings.TrimLeft(s[i+len("charset"):], " \t\n\f\r")
		if !strings.HasPrefix(s, "=") {
			continue
		}
		s = strings.TrimLeft(s[1:], " \t\n\f\r")
		if s == "" {
			return ""
		}
		if q := s[0]; q == '"' || q == '\'' {
			end := strings.IndexByte(s[1:], q)
			if end < 0 {
				return ""
			}
			return s[1 : 1+end]
		}
		if end := strings.IndexAny(s, "; \t\n\f\r"); end >= 0 {
			return s[:end]
		}
		return s
	}
	return ""
}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// lookupCharset returns the encoding a label names (case and surrounding
// white space ignored), or one with an empty name for a label that names
// none.
func lookupCharset(label string) pageCharset {
	name, enc := charsetLabel(strings.ToLower(strings.TrimSpace(label)))
	return pageCharset{name: name, enc: enc, unsupported: name != "" && name != "utf-8" && enc == nil}
}

// charsetLabel maps a WHATWG encoding label (lower case) to the encoding's
// name and decoder: the labels of golang.org/x/text/encoding/htmlindex, in
// a switch rather than htmlindex's map so that nothing is built at init.
// The CJK encodings have a name and no decoder: linking their tables
// (x/text/encoding/japanese, korean, simplifiedchinese, traditionalchinese)
// made every bulwark command start slower (BENCHMARKS.md "Start-up"), for
// a few pages that fetch_url then shows with a note instead.
func charsetLabel(label string) (string, encoding.Encoding) {
	switch label {
	case "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8":
		return "utf-8", nil
	case "csunicode", "iso-10646-ucs-2", "ucs-2", "unicode", "unicodefeff", "utf-16", "utf-16le":
		return "utf-16le", unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	case "unicodefffe", "utf-16be":
		return "utf-16be", unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
	case "ansi_x3.4-1968", "ascii", "cp1252", "cp819", "csisolatin1", "ibm819", "iso-8859-1", "iso-ir-100", "iso8859-1", "iso88591", "iso_8859-1", "iso_8859-1:1987", "l1", "latin1", "us-ascii", "windows-1252", "x-cp1252":
		return "windows-1252", charmap.Windows1252
	case "cp1250", "windows-1250", "x-cp1250":
		return "windows-1250", charmap.Windows1250
	case "cp1251", "windows-1251", "x-cp1251":
		return "windows-1251", charmap.Windows1251
	case "cp1253", "windows-1253", "x-cp1253":
		return "windows-1253", charmap.Windows1253
	case "cp1254", "csisolatin5", "iso-8859-9", "iso-ir-148", "iso8859-9", "iso88599", "iso_8859-9", "iso_8859-9:1989", "l5", "latin5", "windows-1254", "x-cp1254":
		return "windows-1254", charmap.Windows1254
	case "cp1255", "windows-1255", "x-cp1255":
		return "windows-1255", charmap.Windows1255
	case "cp1256", "windows-1256", "x-cp1256":
		return "windows-1256", charmap.Windows1256
	case "cp1257", "windows-1257", "x-cp1257":
		return "windows-1257", charmap.Windows1257
	case "cp1258", "windows-1258", "x-cp1258":
		return "windows-1258", charmap.Windows1258
	case "dos-874", "iso-8859-11", "iso8859-11", "iso885911", "tis-620", "windows-874":
		return "windows-874", charmap.Windows874
	case "csisolatin2", "iso-8859-2", "iso-ir-101", "iso8859-2", "iso88592", "iso_8859-2", "iso_8859-2:1987", "l2", "latin2":
		return "iso-8859-2", charmap.ISO8859_2
	case "csisolatin3", "iso-8859-3", "iso-ir-109", "iso8859-3", "iso88593", "iso_8859-3", "iso_8859-3:1988", "l3", "latin3":
		return "iso-8859-3", charmap.ISO8859_3
	case "csisolatin4", "iso-8859-4", "iso-ir-110", "iso8859-4", "iso88594", "iso_8859-4", "iso_8859-4:1988", "l4", "latin4":
		return "iso-8859-4", charmap.ISO8859_4
	case "csisolatincyrillic", "cyrillic", "iso-8859-5", "iso-ir-144", "iso8859-5", "iso88595", "iso_8859-5", "iso_8859-5:1988":
		return "iso-8859-5", charmap.ISO8859_5
	case "arabic", "asmo-708", "csiso88596e", "csiso88596i", "csisolatinarabic", "ecma-114", "iso-8859-6", "iso-8859-6-e", "iso-8859-6-i", "iso-ir-127", "iso8859-6", "iso88596", "iso_8859-6", "iso_8859-6:1987":
		return "iso-8859-6", charmap.ISO8859_6
	case "csisolatingreek", "ecma-118", "elot_928", "greek", "greek8", "iso-8859-7", "iso-ir-126", "iso8859-7", "iso88597", "iso_8859-7", "iso_8859-7:1987", "sun_eu_greek":
		return "iso-8859-7", charmap.ISO8859_7
	case "csiso88598e", "csisolatinhebrew", "hebrew", "iso-8859-8", "iso-8859-8-e", "iso-ir-138", "iso8859-8", "iso88598", "iso_8859-8", "iso_8859-8:1988", "visual":
		return "iso-8859-8", charmap.ISO8859_8
	case "csisolatin6", "iso-8859-10", "iso-ir-157", "iso8859-10", "iso885910", "l6", "latin6":
		return "iso-8859-10", charmap.ISO8859_10
	case "iso-8859-13", "iso8859-13", "iso885913":
		return "iso-8859-13", charmap.ISO8859_13
	case "iso-8859-14", "iso8859-14", "iso885914":
		return "iso-8859-14", charmap.ISO8859_14
	case "csisolatin9", "iso-8859-15", "iso8859-15", "iso885915", "iso_8859-15", "l9":
		return "iso-8859-15", charmap.ISO8859_15
	case "iso-8859-16":
		return "iso-8859-16", charmap.ISO8859_16
	case "csiso88598i", "iso-8859-8-i", "logical":
		return "iso-8859-8-i", charmap.ISO8859_8I
	case "866", "cp866", "csibm866", "ibm866":
		return "ibm866", charmap.CodePage866
	case "cskoi8r", "koi", "koi8", "koi8-r", "koi8_r":
		return "koi8-r", charmap.KOI8R
	case "koi8-ru", "koi8-u":
		return "koi8-u", charmap.KOI8U
	case "csmacintosh", "mac", "macintosh", "x-mac-roman":
		return "macintosh", charmap.Macintosh
	case "x-mac-cyrillic", "x-mac-ukrainian":
		return "x-mac-cyrillic", charmap.MacintoshCyrillic
	case "x-user-defined":
		return "x-user-defined", charmap.XUserDefined
	// Known, not decoded: the CJK encodings need tables that cost start-up
	// time to link (see charsetUnsupported), and the replacement encoding
	// (ISO-2022-KR/CN, HZ) is only ever decoded as one U+FFFD.
	case "csshiftjis", "ms932", "ms_kanji", "shift-jis", "shift_jis", "sjis", "windows-31j", "x-sjis":
		return "shift_jis", nil
	case "cseucpkdfmtjapanese", "euc-jp", "x-euc-jp":
		return "euc-jp", nil
	case "csiso2022jp", "iso-2022-jp":
		return "iso-2022-jp", nil
	case "chinese", "csgb2312", "csiso58gb231280", "gb2312", "gb_2312", "gb_2312-80", "gbk", "iso-ir-58", "x-gbk":
		return "gbk", nil
	case "gb18030":
		return "gb18030", nil
	case "big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5":
		return "big5", nil
	case "cseuckr", "csksc56011987", "euc-kr", "iso-ir-149", "korean", "ks_c_5601-1987", "ks_c_5601-1989", "ksc5601", "ksc_5601", "windows-949":
		return "euc-kr", nil
	case "csiso2022kr", "hz-gb-2312", "iso-2022-cn", "iso-2022-cn-ext", "iso-2022-kr", "replacement":
		return "replacement", nil
	}
	return "", nil
}
