package mincore

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Mapping is what /proc/self/smaps says of the mapping that holds an
// address: its range, its VmFlags ("hg": huge pages asked for with
// MADV_HUGEPAGE) and how much of it is in transparent huge pages.
type Mapping struct {
	Start, End       uintptr
	Flags            []string
	AnonHugePagesKiB int
}

// HasFlag says whether the mapping has VmFlags flag.
func (m Mapping) HasFlag(flag string) bool {
	for _, f := range m.Flags {
		if f == flag {
			return true
		}
	}
	return false
}

// MappingOf returns the mapping of this process that holds addr, from
// /proc/self/smaps; it fails t when none does or the file cannot be read.
func MappingOf(t testing.TB, addr uintptr) Mapping {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatalf("smaps: %v", err)
	}
	defer f.Close()
	m, found := mappingOf(bufio.NewScanner(f), addr)
	if !found {
		t.Fatalf("no mapping of this process holds %#x", addr)
	}
	return m
}

// mappingOf reads smaps' entries from sc until the one that holds addr
// ends.
func mappingOf(sc *bufio.Scanner, addr uintptr) (m Mapping, found bool) {
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := rangeOf(line); ok {
			if found {
				return m, true // the next entry
			}
			if lo <= addr && addr < hi {
				m, found = Mapping{Start: lo, End: hi}, true
			}
			continue
		}
		if !found {
			continue
		}
		key, value, _ := strings.Cut(line, ":")
		switch key {
		case "VmFlags":
			m.Flags = strings.Fields(value)
		case "AnonHugePages":
			m.AnonHugePagesKiB, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(value), " kB"))
		}
	}
	return m, found
}

// rangeOf reads an entry's first line, "7f00-7f80 rw-p 00000000 00:00 0",
// as its range; other lines ("Rss: 4 kB") are not.
func rangeOf(line string) (lo, hi uintptr, ok bool) {
	r, _, _ := strings.Cut(line, " ")
	a, b, found := strings.Cut(r, "-")
	if !found {
		return 0, 0, false
	}
	x, err1 := strconv.ParseUint(a, 16, 64)
	y, err2 := strconv.ParseUint(b, 16, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uintptr(x), uintptr(y), true
}

// Mapped says which pages of the n bytes at addr (page-aligned) are in
// this process's page tables, from /proc/self/pagemap (bit 63, present):
// unlike Resident, a file's page cached but not yet mapped by this
// process is not. It fails t if the file cannot be read.
func Mapped(t testing.TB, addr, n uintptr) []bool {
	t.Helper()
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		t.Fatalf("pagemap: %v", err)
	}
	defer f.Close()
	page := uintptr(os.Getpagesize())
	buf := make([]byte, 8*((n+page-1)/page))
	if _, err := f.ReadAt(buf, int64(addr/page*8)); err != nil {
		t.Fatalf("pagemap at %#x: %v", addr, err)
	}
	in := make([]bool, len(buf)/8)
	for i := range in {
		in[i] = buf[8*i+7]&0x80 != 0 // little-endian: bit 63 is the last byte's top bit
	}
	return in
}
