package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// TestProgress: a progress line is redrawn in place and cleared at the
// end; where stderr is not a terminal there is none, and a nil progress
// does nothing.
func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf, label: "backup"}
	p.bytes(512, 1024)
	p.last = time.Now().Add(time.Hour) // as if just drawn: the next is not
	p.bytes(600, 1024)
	p.bytes(1024, 1024) // the end is always drawn
	p.done()
	want := "\r\033[Kbackup: 512 B of 1.0 KiB (50%)\r\033[Kbackup: 1.0 KiB of 1.0 KiB (100%)\r\033[K"
	if buf.String() != want {
		t.Errorf("progress wrote %q, want %q", buf.String(), want)
	}
	if p := newProgress(stdio{err: &buf}, "x"); p != nil {
		t.Error("a progress line on a buffer, not a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if p := newProgress(stdio{err: f}, "x"); p != nil {
		t.Error("a progress line on a file, not a terminal")
	}
	var none *progress
	none.bytes(1, 2)
	none.step("x %d", 1)
	none.done()
}

// TestNoProgressInLogs: a backup whose stderr is not a terminal writes no
// progress line there.
func TestNoProgressInLogs(t *testing.T) {
	vars := map[string]string{}
	data, _ := backupFixture(t, vars)
	vars["BULWARK_DATA"] = data
	code, _, stderr := runDispatch("backup", "--out", t.TempDir()+"/again")
	if code != 0 || strings.Contains(stderr, "\r") {
		t.Errorf("backup: exit %d, stderr %q; want no progress line", code, stderr)
	}
}
