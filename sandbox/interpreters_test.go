package sandbox

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func TestInterpreters(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	inner := write("inner", "#!/bin/sh\n")
	cases := []struct {
		name, content string
		want          []string
	}{
		{"env-node", "#!/usr/bin/env node\nconsole.log(1)\n", []string{"/usr/bin/env", "node"}},
		{"env-S", "#!/usr/bin/env -S node --experimental-vm-modules\n", []string{"/usr/bin/env", "node"}},
		{"env-S-assign", "#!/usr/bin/env -S NODE_OPTIONS=x -u HOME node\n", []string{"/usr/bin/env", "node"}},
		{"env-dashdash", "#!/usr/bin/env -S -i -- python3 -u\n", []string{"/usr/bin/env", "python3"}},
		{"env-abs", "#! /usr/bin/env /usr/bin/python3\n", []string{"/usr/bin/env", "/usr/bin/python3"}},
		{"direct", "#!/usr/bin/python3 -u\n", []string{"/usr/bin/python3"}},
		{"tab", "#!/bin/bash\t-e\n", []string{"/bin/bash"}},
		{"crlf", "#!/bin/sh\r\n", []string{"/bin/sh"}},
		{"chain", "#!" + inner + " -x\n", []string{inner, "/bin/sh"}},
		{"not-a-script", "\x7fELF\x02\x01\x01", nil},
		{"empty-shebang", "#!\n", nil},
		{"env-alone", "#!/usr/bin/env\n", []string{"/usr/bin/env"}},
		{"empty", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Interpreters(write(c.name, c.content))
			if !slices.Equal(got, c.want) {
				t.Errorf("Interpreters(%q) = %q, want %q", c.content, got, c.want)
			}
		})
	}
	// A loop of scripts naming each other ends; a FIFO and a missing file
	// are no scripts (and do not hang).
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("#!"+b+"\n"), 0o755)
	os.WriteFile(b, []byte("#!"+a+"\n"), 0o755)
	if got := Interpreters(a); len(got) != 2 {
		t.Errorf("loop: %q", got)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err == nil {
		if got := Interpreters(fifo); got != nil {
			t.Errorf("fifo: %q", got)
		}
	}
	if got := Interpreters("no-such-command-anywhere"); got != nil {
		t.Errorf("unknown name: %q", got)
	}
	if got := Interpreters(filepath.Join(dir, "missing")); got != nil {
		t.Errorf("missing: %q", got)
	}
}

// The #! parsers never panic and return only what the line holds.
func FuzzShebang(f *testing.F) {
	for _, s := range []string{"#!/usr/bin/env node", "#!/usr/bin/env -S a=b -u x -- node -x", "#!/bin/sh -e\n", "#! \t\n", "#!/usr/bin/env -S -S -S"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		interp, arg, ok := parseShebang(b)
		if !ok {
			return
		}
		if interp == "" {
			t.Fatalf("empty interpreter from %q", b)
		}
		envProgram(arg)
	})
}
