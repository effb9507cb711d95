package workspace

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// TestFailedNewWriteSparesAConcurrentReplacement: a write of a new file
// fails halfway (over the process's file size limit) while another write
// of the same name, which succeeds, replaces it. The failed write's
// clean-up must not remove the file the other write put there: when that
// write reports success, its content is at the name. Not parallel: the
// limit is the whole process's.
func TestFailedNewWriteSparesAConcurrentReplacement(t *testing.T) {
	var old syscall.Rlimit
	must(t, syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old))
	ws := mustOpen(t)
	lim := old
	lim.Cur = 4096
	must(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim))
	defer syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
	big := make([]byte, 8192)
	lost := 0
	for _, dir := range []string{"", "sub/"} {
		for i := range 1500 {
			name := fmt.Sprintf("%sf%d", dir, i)
			var wg sync.WaitGroup
			var failErr, okErr error
			wg.Add(2)
			go func() { defer wg.Done(); failErr = ws.WriteFile(name, big) }()
			go func() { defer wg.Done(); okErr = ws.WriteFile(name, []byte("whole")) }()
			wg.Wait()
			if failErr == nil {
				t.Fatalf("WriteFile(%s) of 8 KiB over a 4 KiB limit succeeded", name)
			}
			if okErr != nil {
				continue // it may meet the other's file and fail; then nothing is promised
			}
			if b, err := os.ReadFile(filepath.Join(ws.Path(), name)); err != nil || string(b) != "whole" {
				lost++
				if lost == 1 {
					t.Errorf("WriteFile(%s) succeeded, but the name then holds %q, %v: a concurrent failed write removed it", name, b, err)
				}
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d successful writes lost", lost)
	}
	if n := tempFiles(t, ws.Path()); n != 0 {
		t.Errorf("%d temporary files left", n)
	}
}
