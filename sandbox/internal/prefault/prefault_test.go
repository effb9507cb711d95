package prefault

import (
	"os/exec"
	"strings"
	"testing"
)

func TestHeapSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uintptr
	}{
		{"2048", 2 << 20},
		{"512", 512 << 10},
		{"4", 4 << 10},
		{"", defaultHeapSize},
		{"3", defaultHeapSize},
		{"65537", defaultHeapSize},
		{"99999999999999999999999", defaultHeapSize},
		{"-1", defaultHeapSize},
		{"1k", defaultHeapSize},
	} {
		if got := heapSize(c.in); got != c.want {
			t.Errorf("heapSize(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestSpan(t *testing.T) {
	if s, n := span(0x12345678, 1<<20); s != 0x12345000 || n != 1<<20 {
		t.Errorf("span(0x12345678, 1 MiB) = %#x, %#x", s, n)
	}
	if s, n := span(0x1000, 5000); s != 0x1000 || n != 0x2000 {
		t.Errorf("span(0x1000, 5000) = %#x, %#x", s, n)
	}
}

// The init runs before the other packages' inits only while it imports
// nothing that has one of its own (the runtime's are done first).
func TestImportsNothingWithAnInit(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	if imports := strings.Fields(string(out)); len(imports) > 1 || len(imports) == 1 && imports[0] != "unsafe" {
		t.Errorf("prefault imports %v; only unsafe keeps its init ahead of the others", imports)
	}
}

func TestExtendRange(t *testing.T) {
	const start = 0x7f0000123000
	for _, c := range []struct {
		name             string
		start, n, errno  uintptr
		size             uintptr
		wantFrom, wantTo uintptr
	}{
		{"on from the init's end", start, 2 << 20, 0, 3 << 20, start + 2<<20, start + 3<<20},
		{"a size in part of a page", start, 2 << 20, 0, 3<<20 + 1, start + 2<<20, start + 3<<20 + pageSize},
		{"on from the chunk's end where the init's call failed", start, 2 << 20, 22, 3 << 20, 0x7f0000400000, start + 3<<20},
		{"no more than the init", start, 2 << 20, 0, 2 << 20, start + 2<<20, start + 2<<20},
		{"no init call", 0, 0, 0, 3 << 20, 0, 0},
	} {
		from, to := extendRange(c.start, c.n, c.errno, c.size)
		if from != c.wantFrom || to != c.wantTo {
			t.Errorf("%s: extendRange = %#x, %#x, want %#x, %#x", c.name, from, to, c.wantFrom, c.wantTo)
		}
	}
}
