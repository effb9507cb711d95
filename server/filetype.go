package server

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// Uploads are checked twice over: the name's extension must be on the
// allowlist, and the content must be what the extension says (a text
// file is UTF-8 text, a PNG starts as PNGs do). Executables (ELF, PE,
// Mach-O) are refused whatever their name, and so is a script with a #!
// line unless its extension is a scripting language's.

// DefaultFileTypes are the extensions uploads may have by default
// (BULWARK_ALLOWED_FILE_TYPES replaces the list). HTML, SVG and shell
// scripts are left out: they are active content.
var DefaultFileTypes = []string{
	".txt", ".md", ".csv", ".tsv", ".json", ".jsonl", ".yaml", ".yml", ".log",
	".pdf", ".docx", ".xlsx", ".pptx", ".png", ".jpg", ".jpeg", ".gif", ".webp",
	".py", ".js", ".ts", ".go", ".java", ".c", ".h", ".rs", ".rb", ".sql",
}

// DefaultMaxFileSize caps uploads when Config.MaxFileSize is 0.
const DefaultMaxFileSize = 10 << 20

// DefaultStorageQuota caps the files one tenant keeps when
// Config.StorageQuota is 0.
const DefaultStorageQuota = 1 << 30

// textTypes are extensions whose content must be UTF-8 text.
var textTypes = lazy.Value[map[string]bool]{New: func() map[string]bool {
	return map[string]bool{
		".txt": true, ".md": true, ".csv": true, ".tsv": true, ".json": true, ".jsonl": true, ".yaml": true, ".yml": true,
		".log": true, ".py": true, ".js": true, ".ts": true, ".go": true, ".java": true, ".c": true, ".h": true,
		".rs": true, ".rb": true, ".sql": true, ".sh": true, ".html": true, ".xml": true, ".svg": true,
	}
}}

// scriptTypes may start with a #! line.
var scriptTypes = lazy.Value[map[string]bool]{New: func() map[string]bool {
	return map[string]bool{".py": true, ".js": true, ".ts": true, ".rb": true, ".sh": true}
}}

// magicTypes are extensions whose content starts with a known signature.
var magicTypes = lazy.Value[map[string][][]byte]{New: func() map[string][][]byte {
	return map[string][][]byte{
		".pdf":  {[]byte("%PDF-")},
		".png":  {[]byte("\x89PNG\r\n\x1a\n")},
		".jpg":  {[]byte("\xff\xd8\xff")},
		".jpeg": {[]byte("\xff\xd8\xff")},
		".gif":  {[]byte("GIF87a"), []byte("GIF89a")},
		".docx": {[]byte("PK\x03\x04")},
		".xlsx": {[]byte("PK\x03\x04")},
		".pptx": {[]byte("PK\x03\x04")},
	}
}}

// fileExt is the lower-case extension of name, with its dot.
func fileExt(name string) string { return strings.ToLower(path.Ext(name)) }

// allowedType reports whether name's extension is on the allowlist: the
// same letters, in ASCII, in any ASCII case. Unicode case folding is not
// used: it equates the Kelvin sign with "k" and the long s with "s", so
// "a.cſv" would pass as a .csv while every program, and checkContent,
// sees another extension.
func (s *Server) allowedType(name string) bool {
	ext := path.Ext(name)
	if ext == "" || !isASCII(ext) {
		return false
	}
	types := s.cfg.AllowedFileTypes
	if types == nil {
		types = DefaultFileTypes
	}
	// Both ASCII: EqualFold folds only ASCII case between them.
	return slices.ContainsFunc(types, func(t string) bool { return isASCII(t) && strings.EqualFold(t, ext) })
}

// isASCII reports whether s holds only ASCII bytes.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// checkContent returns why data cannot be a file named name, or "".
func checkContent(name string, data []byte) string {
	ext := fileExt(name)
	if kind := executableKind(data); kind != "" {
		return fmt.Sprintf("the content is %s, which is never accepted", kind)
	}
	if bytes.HasPrefix(data, []byte("#!")) && !scriptTypes.Get()[ext] {
		return "the content is a script with a #! line, which files of type " + ext + " do not have"
	}
	if textTypes.Get()[ext] {
		text := bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
		if !utf8.Valid(text) || bytes.IndexByte(text, 0) >= 0 {
			return "the content is not UTF-8 text, as files of type " + ext + " are"
		}
	}
	if sigs, ok := magicTypes.Get()[ext]; ok && !slices.ContainsFunc(sigs, func(sig []byte) bool { return bytes.HasPrefix(data, sig) }) {
		return "the content is not a " + strings.TrimPrefix(ext, ".") + " file"
	}
	if ext == ".webp" && !(len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP") {
		return "the content is not a webp file"
	}
	return ""
}

// executableKind names the executable format data is in, or "".
func executableKind(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("\x7fELF")):
		return "an ELF executable"
	case len(data) >= 4 && slices.Contains([]uint32{0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe, 0xbebafeca},
		binary.BigEndian.Uint32(data)):
		return "a Mach-O executable (or a Java class)"
	case isPE(data):
		return "a Windows executable"
	}
	return ""
}

// isPE reports whether data is a DOS or Windows (PE) executable: "MZ"
// with a header whose e_lfanew points at "PE\0\0", or a DOS header that
// is not text.
func isPE(data []byte) bool {
	if !bytes.HasPrefix(data, []byte("MZ")) || len(data) < 64 {
		return false
	}
	off := int64(binary.LittleEndian.Uint32(data[60:64]))
	if off >= 64 && off+4 <= int64(len(data)) && string(data[off:off+4]) == "PE\x00\x00" {
		return true
	}
	return !utf8.Valid(data[:64])
}
