package sandbox

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

var parseSizeTests = []struct {
	in   string
	want int64
}{
	{"4096", 4096},
	{"512MiB", 512 << 20},
	{"1GiB", 1 << 30},
	{"64k", 64000},
	{"1.5G", 1500000000},
	{"2 MiB", 2 << 20},
}

func TestParseSize(t *testing.T) {
	for _, tt := range parseSizeTests {
		if got, err := ParseSize(tt.in); err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v, want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "12 parsecs"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted bad input", bad)
		}
	}
}

func TestCapWriter(t *testing.T) {
	var buf bytes.Buffer
	c := &capWriter{w: &buf, left: 10}
	c.Write([]byte("hello"))
	c.Write([]byte("world, and more"))
	c.Write([]byte("dropped"))
	if got, want := buf.String(), "helloworld"+truncMarker; got != want || !c.dropped {
		t.Errorf("capWriter wrote %q, want %q", got, want)
	}
}

func TestSpecValidate(t *testing.T) {
	for _, s := range []Spec{
		{Net: "internet"},
		{Net: NetProxy},
		{Memory: 1024},
		{Pids: 1},
		{Env: []string{"NOEQUALS"}},
		{AllowDomains: []string{"bad domain"}},
	} {
		if err := s.withDefaults().validate(); err == nil {
			t.Errorf("validate(%+v) accepted a bad spec", s)
		}
	}
	if err := (Spec{AllowDomains: []string{"example.com"}}).withDefaults().validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
}

func TestAllowedCommands(t *testing.T) {
	t.Setenv("BULWARK_ALLOWED_COMMANDS", " python3, ,ls ")
	if got := strings.Join(AllowedCommands(), ","); got != "python3,ls" {
		t.Errorf("AllowedCommands() = %q", got)
	}
}

// Without the sandbox (BULWARK_SANDBOX=off), the command still gets the
// clean environment, the timeout and the output caps.
func TestUnsandboxed(t *testing.T) {
	t.Setenv("BULWARK_SANDBOX", "off")
	t.Setenv("BULWARK_TEST_CANARY", "canary")
	res, err := Run(t.Context(), Spec{}, []string{"sh", "-c", "env"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Unsandboxed || res.ExitCode != 0 || strings.Contains(string(res.Stdout), "canary") {
		t.Errorf("unsandboxed run: %+v, stdout %q", res, res.Stdout)
	}
}

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}
