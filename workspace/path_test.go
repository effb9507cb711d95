package workspace

import (
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

var cleanTests = []struct {
	in   string
	want string // "" means an error of kind Invalid
	msg  string // part of the error message, when an error is wanted
}{
	{"a.txt", "a.txt", ""},
	{".", ".", ""},
	{"./a.txt", "a.txt", ""},
	{"a/b/../c", "a/c", ""},
	{"a//b/", "a/b", ""},
	{"a/..", ".", ""},
	{"dir/.hidden", "dir/.hidden", ""},
	{"dé/ça.txt", "dé/ça.txt", ""},
	{"", "", "empty"},
	{"..", "", `path ".." leaves the workspace`},
	{"../x", "", `path "../x" leaves the workspace; use a path inside it, such as "x"`},
	{"a/../../b", "", `leaves the workspace; use a path inside it, such as "b"`},
	{"a/b/../../..", "", "leaves the workspace"},
	{"/etc/passwd", "", `path "/etc/passwd" is absolute; use a path relative to the workspace, such as "etc/passwd"`},
	{"/", "", "is absolute"},
	{"/proc/self/root/etc/passwd", "", "is absolute"},
	{"//server/share", "", "UNC"},
	{`\\server\share\x`, "", "UNC"},
	{`C:\Windows\win.ini`, "", `Windows drive; use a slash-separated path inside the workspace, such as "Windows/win.ini"`},
	{"c:x", "", "Windows drive"},
	{`dir\file.txt`, "", `contains a backslash; separate folders with "/", as in "dir/file.txt"`},
	{"~", "", "is not expanded"},
	{"~/notes.txt", "", `such as "notes.txt"`},
	{"~root/.ssh/id_rsa", "", "is not expanded"},
	{"0000000/../~", "", "is not expanded"}, // what the path is once cleaned is checked too
	{"a/../~root/x", "", "is not expanded"},
	{"a/../c:x", "", "Windows drive"},
	{"a\x00b", "", "NUL byte"},
	{"a\nb", "", "control character"},
	{"a\x7fb", "", "control character"},
	{"a\xffb", "", "not valid UTF-8"},
	{strings.Repeat("n", 256), "", "names may be at most 255 bytes"},
	{strings.Repeat("d/", 2100), "", "paths may be at most 4096 bytes"},
	{strings.Repeat("n", 255), strings.Repeat("n", 255), ""},
}

func TestClean(t *testing.T) {
	for _, tt := range cleanTests {
		got, err := Clean(tt.in)
		if tt.want != "" {
			if err != nil || got != tt.want {
				t.Errorf("Clean(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("Clean(%q) = %q, want an error", tt.in, got)
			continue
		}
		if k := bulwark.ErrorKind(err); k != bulwark.Invalid {
			t.Errorf("Clean(%q): kind %v, want %v", tt.in, k, bulwark.Invalid)
		}
		if msg := bulwark.ErrorMessage(err); !strings.Contains(msg, tt.msg) {
			t.Errorf("Clean(%q) error = %q, want it to contain %q", tt.in, msg, tt.msg)
		}
	}
}
