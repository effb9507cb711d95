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
		{"65536", 64 << 20},
		{"", 0},
		{"3", 0},
		{"65537", 0},
		{"99999999999999999999999", 0},
		{"-1", 0},
		{"1k", 0},
	} {
		if got := heapSize(c.in); got != c.want {
			t.Errorf("heapSize(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestCostly(t *testing.T) {
	for _, c := range []struct {
		ns    []int64
		force string
		want  bool
	}{
		{[]int64{12000, 15000}, "", true}, // a PVM guest
		{[]int64{900, 1100}, "", false},   // nested paging
		{[]int64{30000, 900}, "", false},  // an interrupt in the first
		{[]int64{900, 150000}, "", false}, // a huge page made by the second
		{[]int64{costlyFaultNS, 99999}, "", true},
		{[]int64{costlyFaultNS - 1, 99999}, "", false},
		{nil, "", false},
		{[]int64{900, 900}, "high", true},
		{[]int64{12000, 12000}, "low", false},
		{[]int64{12000, 12000}, "medium", true}, // not a setting: the measure decides
		{[]int64{900, 900}, "HIGH", false},
	} {
		if got := costly(c.ns, c.force); got != c.want {
			t.Errorf("costly(%v, %q) = %v, want %v", c.ns, c.force, got, c.want)
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
