package workspace

import (
	"os"
	"strconv"
	"testing"
)

// BenchmarkWriteNewFile is an agent's commonest write: a small new file in
// the workspace folder, as bench agents makes ten per task. BENCH_DIR puts
// the workspaces on another file system (ext4 and tmpfs differ most in
// what a file costs to make).
func BenchmarkWriteNewFile(b *testing.B) {
	ws := benchWorkspace(b)
	data := []byte("a line an agent wrote\n")
	b.ResetTimer()
	for i := range b.N {
		if err := ws.WriteFile("step-"+strconv.Itoa(i)+".txt", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplaceFile rewrites one file (a temporary file and a rename).
func BenchmarkReplaceFile(b *testing.B) {
	ws := benchWorkspace(b)
	data := []byte("a line an agent wrote\n")
	b.ResetTimer()
	for range b.N {
		if err := ws.WriteFile("notes.txt", data); err != nil {
			b.Fatal(err)
		}
	}
}

func benchWorkspace(b *testing.B) *Workspace {
	b.Helper()
	dir, err := os.MkdirTemp(os.Getenv("BENCH_DIR"), "bulwark-ws-bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	ws, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ws.Close() })
	return ws
}
