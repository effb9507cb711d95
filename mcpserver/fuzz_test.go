package mcpserver

import (
	"strings"
	"testing"
)

// FuzzParseURI: a resource URI from a client never panics the parser,
// what it accepts names one task (no slash in the id) and a non-empty
// path, and the URIs this package writes parse back to what they name.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{"bulwark://tasks/t_1/transcript", "bulwark://tasks/t_1/files", "bulwark://tasks/t_1/files/a/b%20c.txt",
		"bulwark://tasks/t%2F1/files/x", "bulwark://tasks//files/x", "bulwark://tasks/t_1/files/..%2F..%2Fetc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		id, kind, path, ok := parseURI(uri)
		if !ok {
			return
		}
		if id == "" || strings.Contains(id, "/") || (kind == "file") != (path != "") {
			t.Fatalf("parseURI(%q) = %q %q %q", uri, id, kind, path)
		}
		var again string
		switch kind {
		case "transcript":
			again = TranscriptURI(id)
		case "files":
			again = uriPrefix + id + "/files"
			if strings.ContainsAny(id, "%?#") {
				return
			}
		default:
			again = FileURI(id, path)
		}
		id2, kind2, path2, ok2 := parseURI(again)
		if !ok2 || id2 != id || kind2 != kind || path2 != path {
			t.Fatalf("parseURI(%q) = %q %q %q, and its URI %q parses to %q %q %q %v", uri, id, kind, path, again, id2, kind2, path2, ok2)
		}
	})
}
