package web

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// supportedLabels are labels of every encoding determineCharset knows, in
// the forms pages write them.
var supportedLabels = []string{
	"utf-8", "UTF8", " utf-8 ", "unicode-1-1-utf-8", "utf-16", "utf-16le", "UTF-16BE", "unicodefffe",
	"iso-8859-1", "latin1", "ascii", "us-ascii", "windows-1252", "cp1252", "ANSI_X3.4-1968",
	"iso-8859-2", "iso-8859-5", "iso_8859-6:1987", "iso-8859-8-i", "logical", "iso-8859-9", "latin5", "iso-8859-11",
	"iso-8859-15", "l9", "iso-8859-16", "windows-1250", "cp1251", "windows-1251", "x-cp1253", "windows-1258", "tis-620",
	"koi8-r", "KOI8-U", "koi8-ru", "ibm866", "866", "macintosh", "mac", "x-mac-cyrillic", "x-user-defined",
	"shift_jis", "sjis", "windows-31j", "euc-jp", "iso-2022-jp", "gbk", "gb2312", "gb18030", "big5", "big5-hkscs",
	"euc-kr", "ks_c_5601-1987", "iso-2022-kr", "hz-gb-2312", "replacement",
	"no-such-charset", "", "utf-7", "binary",
}

// charsetCases are pages and Content-Types whose charset
// TestDetermineCharsetMatchesXNet compares; each label is also tried in
// the Content-Type, in <meta charset> and in <meta http-equiv>.
var charsetCases = []struct{ body, ctype string }{
	{"\xfe\xff\x00a", "text/html; charset=windows-1251"},
	{"\xff\xfea\x00", "text/html"},
	{"\xef\xbb\xbfcaf\xc3\xa9", "text/html; charset=koi8-r"},
	{"plain ascii", "text/html"},
	{"caf\xc3\xa9", "text/html"},
	{"caf\xe9", "text/html"},
	{"caf\xc3", "text/html"},
	{strings.Repeat("a", 1023) + "\xc3\xa9", ""},
	{"<meta charset=utf-16le>caf\xe9", ""},
	{"<meta http-equiv=content-type content='text/html; charset=koi8-r'>", ""},
	{"<meta content='text/html; charset=koi8-r'>", ""},
	{"<meta content='text/html; charset=koi8-r' http-equiv=Content-Type charset=nonsense>", ""},
	{"<meta charset=nonsense content='charset=\"windows-1251\"' http-equiv=content-type>", ""},
	{"<meta charset=nonsense><meta charset=iso-8859-2>", ""},
	{"<!-- <meta charset=koi8-r> --><script><meta charset=koi8-r></script><meta charset=iso-8859-7>", ""},
	{"<META CHARSET=ISO-8859-7>", ""},
	{strings.Repeat(" ", 1020) + "<meta charset=koi8-r>", ""},
	{"<meta charset=koi8-r>", "text/html; charset=no-such"},
	{"<meta charset=koi8-r>", "text/html; charset=\"unterminated"},
	{"<meta http-equiv='content-type' content='charset = ; charset=\"x-cp1251'>", ""},
}

// TestDetermineCharsetMatchesXNet: for the labels this binary knows,
// determineCharset picks the encoding x/net/html/charset picks.
func TestDetermineCharsetMatchesXNet(t *testing.T) {
	check := func(body, ctype string) {
		t.Helper()
		_, want, _ := charset.DetermineEncoding([]byte(body), ctype)
		if got := determineCharset([]byte(body), ctype); got.name != want {
			t.Errorf("determineCharset(%q, %q) = %q, x/net/html/charset says %q", body, ctype, got.name, want)
		}
	}
	for _, c := range charsetCases {
		check(c.body, c.ctype)
	}
	for _, l := range supportedLabels {
		check("caf\xe9", "text/html; charset="+l)
		check("caf\xe9", "text/html; charset=\""+l+"\"")
		check("<meta charset="+l+">caf\xe9", "text/html")
		check("<meta charset='"+l+"'>caf\xc3\xa9", "")
		check(`<meta http-equiv="Content-Type" content="text/html; charset=`+l+`">caf\xe9`, "text/plain")
		check(`<meta content="text/html;charset='`+l+`'" http-equiv="content-type">`, "")
	}
}

func FuzzDetermineCharset(f *testing.F) {
	for _, c := range charsetCases {
		f.Add(c.body, c.ctype)
	}
	f.Fuzz(func(t *testing.T, body, ctype string) {
		_, want, _ := charset.DetermineEncoding([]byte(body), ctype)
		if got := determineCharset([]byte(body), ctype); got.name != want {
			t.Fatalf("determineCharset(%q, %q) = %q, x/net/html/charset says %q", body, ctype, got.name, want)
		}
	})
}

func encode(t *testing.T, cm *charmap.Charmap, s string) []byte {
	t.Helper()
	b, err := cm.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encode %q: %v", s, err)
	}
	return b
}

func TestDecodeText(t *testing.T) {
	const ru, fr = "Привет, мир", "Où est le café? 20 €"
	utf16 := func(order unicode.Endianness, s string) []byte {
		b, err := unicode.UTF16(order, unicode.UseBOM).NewEncoder().Bytes([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tt := range []struct {
		name        string
		body        []byte
		ctype, want string
		unsupported bool
	}{
		{"windows-1251 by Content-Type", encode(t, charmap.Windows1251, "<p>"+ru+"</p>"), "text/html; charset=windows-1251", ru, false},
		{"windows-1251 by meta", encode(t, charmap.Windows1251, `<meta charset="windows-1251"><p>`+ru+"</p>"), "text/html", ru, false},
		{"windows-1252 by Content-Type", encode(t, charmap.Windows1252, fr), "text/plain; charset=windows-1252", fr, false},
		{"windows-1252 by meta", encode(t, charmap.Windows1252, `<meta http-equiv="content-type" content="text/html; charset=iso-8859-1"><p>`+fr), "text/html", fr, false},
		{"windows-1252 by default", encode(t, charmap.Windows1252, "<p>"+fr), "text/html", fr, false},
		{"UTF-16LE with BOM", utf16(unicode.LittleEndian, "<p>"+ru+"</p>"), "text/html", ru, false},
		{"UTF-16BE with BOM", utf16(unicode.BigEndian, ru), "text/plain; charset=windows-1252", ru, false},
		{"UTF-8 with BOM", []byte("\xef\xbb\xbf" + fr), "text/plain", fr, false},
		// "日本語" in Shift_JIS, which is not decoded.
		{"Shift_JIS", []byte("<meta charset=shift_jis><p>caf\x93\xfa\x96\x7b\x8c\xea</p>"), "text/html", "caf", true},
		{"EUC-KR by Content-Type", []byte("ok \xc7\xd1"), "text/plain; charset=euc-kr", "ok ", true},
		{"ISO-2022-KR not turned into one U+FFFD", []byte("visible text"), "text/plain; charset=iso-2022-kr", "visible text", true},
	} {
		media := strings.TrimSpace(strings.Split(tt.ctype, ";")[0])
		got, note := decodeText(tt.body, tt.ctype, media, nil)
		if !utf8.ValidString(got) || !strings.HasPrefix(got, tt.want) || strings.HasPrefix(got, "\uFEFF") {
			t.Errorf("%s: decodeText = %q, want valid UTF-8 starting %q", tt.name, got, tt.want)
		}
		if tt.unsupported != (note != "") || tt.unsupported && !strings.Contains(note, "not supported") {
			t.Errorf("%s: note = %q, want one: %v", tt.name, note, tt.unsupported)
		}
	}
}

func TestFetchUnsupportedCharset(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/sjis", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=Shift_JIS")
		w.Write([]byte("<p>\x93\xfa\x96\x7b\x8c\xea ok</p><p>\x82\xa0</p>"))
	})
	tl, _ := newFetcher(t, mux, Config{})
	res, err := fetch(t, tl, "http://allowed.test/sjis")
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.ValidString(res.Output) || !strings.Contains(res.Output, "ok") || !strings.Contains(res.Output, "\uFFFD") {
		t.Errorf("fetch_url(a Shift_JIS page) = %q; want valid UTF-8 with the ASCII text and U+FFFD", res.Output)
	}
	if n := strings.Count(res.Output, "charset, shift_jis, is not supported"); n != 1 {
		t.Errorf("fetch_url(a Shift_JIS page) = %q; want the not-supported note once, got it %d times", res.Output, n)
	}
}
