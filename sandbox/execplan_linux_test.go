package sandbox

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// copyFile copies src to dst, making dst's folder; it skips the test when
// the host has no src.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Skipf("host has no %s", src)
	}
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

var classifyTests = []struct {
	path string
	want elfKind
}{
	{"/usr/bin/bash", elfProgram},                                 // PIE with an interpreter
	{"/lib64/ld-linux-x86-64.so.2", elfLibrary},                   // the loader itself
	{"/usr/lib/x86_64-linux-gnu/libc.so.6", elfLibrary},           // runnable, but a library (soname)
	{"/usr/lib/x86_64-linux-gnu/security/pam_cap.so", elfProgram}, // interpreter and no soname
	{"/etc/passwd", notELF},
}

func TestClassifyELF(t *testing.T) {
	self, _ := os.Executable()
	if got := classifyELF(self); got != elfProgram {
		t.Errorf("classifyELF(test binary) = %d, want program", got)
	}
	for _, tt := range classifyTests {
		if _, err := os.Stat(tt.path); err != nil {
			continue
		}
		if got := classifyELF(tt.path); got != tt.want {
			t.Errorf("classifyELF(%q) = %d, want %d", tt.path, got, tt.want)
		}
	}
}

// A library folder keeps its libraries executable; its programs are
// masked, a folder at a time where a folder holds only programs.
func TestScanIsland(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, "/usr/bin/bash", filepath.Join(dir, "tools", "a"))
	copyFile(t, "/usr/bin/bash", filepath.Join(dir, "tools", "deeper", "b"))
	copyFile(t, "/usr/bin/bash", filepath.Join(dir, "mixed", "prog"))
	copyFile(t, "/lib64/ld-linux-x86-64.so.2", filepath.Join(dir, "mixed", "lib.so"))
	copyFile(t, "/lib64/ld-linux-x86-64.so.2", filepath.Join(dir, "libtop.so"))
	os.WriteFile(filepath.Join(dir, "mixed", "README"), []byte("text"), 0o644)
	stamps := map[string]int64{}
	masks, libs := scanIsland(dir, stamps)
	slices.Sort(masks)
	want := []string{filepath.Join(dir, "mixed", "prog"), filepath.Join(dir, "tools")}
	if !libs || !slices.Equal(masks, want) {
		t.Errorf("scanIsland = %q, %v, want %q, true", masks, libs, want)
	}
	if len(stamps) != 4 {
		t.Errorf("stamps = %v, want the 4 folders", stamps)
	}
	// A new program makes the plan stale.
	p := &execPlan{Stamps: stamps}
	if !p.fresh() {
		t.Fatal("fresh plan reported stale")
	}
	copyFile(t, "/usr/bin/bash", filepath.Join(dir, "mixed", "new"))
	if p.fresh() {
		t.Error("plan still fresh after a program was added")
	}
}

// The cache file's plan is used as it is for recheckEvery after it was
// last checked (its mtime), checked after that, and dropped when stale.
func TestCachedExecPlanChecksOldFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the cache file must be root's")
	}
	dir := t.TempDir()
	island := filepath.Join(dir, "island")
	os.Mkdir(island, 0o755)
	stamps := map[string]int64{}
	scanIsland(island, stamps)
	file := filepath.Join(dir, "plan.json")
	write := func(age time.Duration) {
		t.Helper()
		b, _ := encodeExecPlan(&execPlan{Islands: []string{island}, Stamps: stamps})
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-age)
		os.Chtimes(file, old, old)
	}

	write(time.Hour)
	p, checked := cachedExecPlan(file)
	if p == nil || time.Since(checked) > time.Minute {
		t.Fatalf("fresh plan checked an hour ago: got %v, checked %v; want it, checked now", p, checked)
	}
	if st, _ := os.Stat(file); time.Since(st.ModTime()) > time.Minute {
		t.Errorf("the check was not recorded: mtime %v", st.ModTime())
	}

	copyFile(t, "/usr/bin/bash", filepath.Join(island, "new-program"))
	write(recheckEvery + time.Second)
	if p, _ := cachedExecPlan(file); p != nil {
		t.Error("a stale plan last checked before the window was used")
	}
	write(time.Second)
	p, _ = cachedExecPlan(file)
	if p == nil {
		t.Fatal("a plan checked a second ago was checked again (the window is recheckEvery)")
	}
	// Read without its stamps; when its check is due, the file's stamps
	// are read and checked: the plan is stale, so it is not kept.
	if p.Stamps != nil {
		t.Errorf("a plan used within the window was read with its %d stamps", len(p.Stamps))
	}
	if full, _ := loadExecPlan(file, true); full == nil || full.fresh() {
		t.Errorf("loadExecPlan(with stamps) = %v, want the stale plan with its stamps", full)
	}
	write(-time.Hour) // an mtime in the future proves nothing
	if p, _ := cachedExecPlan(file); p != nil {
		t.Error("a stale plan with an mtime in the future was used")
	}
}

// The plan decides what the sandbox may map executable: a cache file
// someone but root could have put or swapped in is never used, whoever
// owns the file itself (a folder others may write, a symlink).
func TestCachedExecPlanOnlyRootsFolder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the cache file must be root's")
	}
	dir := t.TempDir()
	island := filepath.Join(dir, "island")
	os.Mkdir(island, 0o755)
	stamps := map[string]int64{}
	scanIsland(island, stamps)
	b, _ := encodeExecPlan(&execPlan{Islands: []string{island}, Stamps: stamps})
	good := filepath.Join(dir, "plan.json")
	if err := os.WriteFile(good, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if p, _ := cachedExecPlan(good); p == nil {
		t.Fatal("set-up: root's plan in root's folder was not used")
	}

	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	if p, _ := cachedExecPlan(link); p != nil {
		t.Error("a plan reached through a symlink was used")
	}

	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o1777) // as /tmp: anyone may add or rename files
	inOpen := filepath.Join(open, "plan.json")
	if err := os.WriteFile(inOpen, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if p, _ := cachedExecPlan(inOpen); p != nil {
		t.Error("a plan in a folder anyone may write was used")
	}

	other := filepath.Join(dir, "other")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(other, 65534, 65534)
	inOther := filepath.Join(other, "plan.json")
	if err := os.WriteFile(inOther, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if p, _ := cachedExecPlan(inOther); p != nil {
		t.Error("a plan in a folder of another user's was used")
	}
}

// The cache file gives back the plan it was written from, whatever its
// paths hold (spaces, quotes, new lines, bytes that are not UTF-8), with
// its stamps or, read for the window, without them; a file cut short or
// edited into another shape gives none.
func TestExecPlanFileRoundTrip(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the cache file must be root's")
	}
	odd := []string{"/usr/lib/a b", "/usr/lib/q\"uote", "/usr/lib/new\nline", "/usr/lib/\xff\xfe", "/usr/lib/tab\there"}
	p := &execPlan{
		Islands: []string{"/usr/lib/x86_64-linux-gnu", odd[0]},
		Libs:    []string{odd[1]},
		Masks:   []string{odd[2]},
		Aliases: map[string][]string{"/usr/bin/mawk": {"/usr/bin/awk", "/usr/bin/mawk"}, odd[3]: {odd[3], odd[4]}},
		Stamps:  map[string]int64{"/usr/lib": 1733300000000000000, odd[2]: -1, odd[4]: 7},
	}
	b, err := encodeExecPlan(p)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "plan")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	full, _ := loadExecPlan(file, true)
	if full == nil || !reflect.DeepEqual(full, p) {
		t.Fatalf("read back with stamps:\n%#v\nwant\n%#v", full, p)
	}
	head, _ := loadExecPlan(file, false)
	want := *p
	want.Stamps = nil
	if head == nil || !reflect.DeepEqual(*head, want) {
		t.Fatalf("read back without stamps:\n%#v\nwant\n%#v", head, &want)
	}
	for name, bad := range map[string][]byte{
		"cut short":       b[:len(b)-2],
		"cut in a stamp":  b[:bytes.LastIndex(b, []byte("\ns "))+4],
		"unknown line":    bytes.Replace(b, []byte("\ne\n"), []byte("\nx 1\ne\n"), 1),
		"unquoted path":   bytes.Replace(b, []byte(`"/usr/lib"`), []byte(`/usr/lib`), 1),
		"an alias alone":  bytes.Replace(b, []byte("\na "), []byte("\na \"/usr/bin/x\"\na "), 1),
		"another version": bytes.Replace(b, []byte(`"version":4`), []byte(`"version":3`), 1),
	} {
		if err := os.WriteFile(file, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if got, _ := loadExecPlan(file, true); got != nil {
			t.Errorf("%s: a plan was read: %#v", name, got)
		}
	}
}

// A sandbox starts with the cache file's plan before its check is done,
// and is configured with the plan the check leaves: the same one when it
// is fresh, a plan made anew when it is stale.
func TestStartExecPlanChecksBeforeUse(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the cache file must be root's")
	}
	plans.Lock()
	saved, savedChecked := plans.plan, plans.checked
	plans.Unlock()
	defer func() {
		plans.Lock()
		plans.plan, plans.checked = saved, savedChecked
		plans.Unlock()
	}()
	dir := t.TempDir()
	island := filepath.Join(dir, "island")
	os.Mkdir(island, 0o755)
	stamps := map[string]int64{}
	scanIsland(island, stamps)
	file := filepath.Join(dir, "plan")
	write := func() {
		t.Helper()
		b, _ := encodeExecPlan(&execPlan{Islands: []string{island}, Stamps: stamps})
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Hour)
		os.Chtimes(file, old, old)
		plans.Lock()
		plans.plan = nil
		plans.Unlock()
	}

	write()
	start, final := startExecPlanFrom(file)
	if start == nil || !slices.Equal(start.Islands, []string{island}) {
		t.Fatalf("started with %v, want the file's plan", start)
	}
	if got := final(); got != start {
		t.Errorf("a fresh file's plan: configured with %v, want the plan started with", got)
	}

	write()
	copyFile(t, "/usr/bin/bash", filepath.Join(island, "new-program"))
	start, final = startExecPlanFrom(file)
	if start == nil || !slices.Equal(start.Islands, []string{island}) {
		t.Fatalf("started with %v, want the file's plan", start)
	}
	got := final()
	if got == start || slices.Contains(got.Islands, island) {
		t.Errorf("a stale file's plan was kept: configured with %v", got.Islands)
	}
	if again, _ := startExecPlanFrom(file); again != got {
		t.Error("the plan made after the check is not the one kept")
	}
}

// A cache file in root's own folder is still refused when the file itself
// is another user's, writable by its group or by others, or not a regular
// file; a fifo at the name is refused without the read waiting for a
// writer.
func TestCachedExecPlanOnlyRootsFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the cache file must be root's")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	island := filepath.Join(dir, "island")
	os.Mkdir(island, 0o755)
	stamps := map[string]int64{}
	scanIsland(island, stamps)
	b, _ := encodeExecPlan(&execPlan{Islands: []string{island}, Stamps: stamps})
	file := filepath.Join(dir, "plan.json")
	put := func(mode os.FileMode, uid int) {
		t.Helper()
		os.Remove(file)
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(file, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(file, uid, 0); err != nil {
			t.Fatal(err)
		}
	}
	put(0o644, 0)
	if p, _ := cachedExecPlan(file); p == nil {
		t.Fatal("set-up: root's plan in root's folder was not used")
	}
	for _, c := range []struct {
		what string
		mode os.FileMode
		uid  int
	}{
		{"another user's file", 0o644, 65534},
		{"a file others may write", 0o666, 0},
		{"a file its group may write", 0o664, 0},
		{"a file others may write, read-only to root", 0o602, 0},
	} {
		put(c.mode, c.uid)
		if p, _ := cachedExecPlan(file); p != nil {
			t.Errorf("%s was used", c.what)
		}
	}
	os.Remove(file)
	if err := unix.Mkfifo(file, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan *execPlan, 1)
	go func() { p, _ := cachedExecPlan(file); done <- p }()
	select {
	case p := <-done:
		if p != nil {
			t.Error("a fifo gave a plan")
		}
	case <-time.After(10 * time.Second):
		// Unblock the reader so the test can end.
		if w, err := os.OpenFile(file, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		t.Error("reading a fifo at the cache file's name waits for a writer")
	}
}

// FuzzLoadExecPlan: whatever a cache file holds, loadExecPlan and
// loadFreshExecPlan do not panic, the check accepts no file the full read
// refuses, and a plan read is one the file format can hold: written
// again it reads back the same, and the part read without stamps is the
// same plan.
func FuzzLoadExecPlan(f *testing.F) {
	if os.Geteuid() != 0 {
		f.Skip("the cache file must be root's")
	}
	good, _ := encodeExecPlan(&execPlan{
		Islands: []string{"/usr/lib/x86_64-linux-gnu", "/usr/lib/a b"},
		Libs:    []string{"/usr/lib/libc.so.6"},
		Masks:   []string{"/usr/lib/x86_64-linux-gnu/bin"},
		Aliases: map[string][]string{"/usr/bin/mawk": {"/usr/bin/awk", "/usr/bin/mawk"}},
		Stamps:  map[string]int64{"/usr/lib": 1733300000000000000, "/usr/lib/\xff": -1},
	})
	f.Add(good)
	for _, s := range []string{
		"", "\n", "e\n", `{"version":4,"plan":{}}` + "\ne\n", `{"version":4,"plan":null}` + "\ne\n",
		`{"version":4,"plan":{}}` + "\na \"/x\" \"/y\"\ns 1 \"/z\"\ne\n",
		`{"version":4,"plan":{}}` + "\ns 1 \"/z\"\na \"/x\" \"/y\"\ne\n",
		`{"version":4,"plan":{}}` + "\ns x \"/z\"\ne\n", `{"version":4,"plan":{}}` + "\ns 1 /z\ne\n",
		`{"version":4,"plan":{}}` + "\na \"/x\"  \"/y\"\ne\n", `{"version":4,"plan":{}}` + "\na \"/x\" \"\\xff\"\ne\n",
		`{"version":4,"plan":{}}` + "\ne\ntrailing\n", `{"version":4,"plan":{}}` + "\r\ne\r\n",
	} {
		f.Add([]byte(s))
	}
	file := filepath.Join(f.TempDir(), "plan")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		full, _ := loadExecPlan(file, true)
		head, _ := loadExecPlan(file, false)
		if loadFreshExecPlan(file) != nil && full == nil {
			t.Fatalf("%q: checked fresh, but not read with stamps", data)
		}
		if full == nil {
			return
		}
		if head == nil {
			t.Fatalf("%q: read with stamps, not without", data)
		}
		if !slices.Equal(full.Islands, head.Islands) || !slices.Equal(full.Libs, head.Libs) || !slices.Equal(full.Masks, head.Masks) {
			t.Fatalf("%q: with stamps %#v, without %#v", data, full, head)
		}
		b, err := encodeExecPlan(full)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
		again, _ := loadExecPlan(file, true)
		if again == nil {
			t.Fatalf("%q: read, written as %q, not read back", data, b)
		}
		if len(full.Aliases) == 0 {
			full.Aliases = map[string][]string{}
		}
		if !reflect.DeepEqual(again, full) {
			t.Fatalf("%q: read %#v, written and read back %#v", data, full, again)
		}
	})
}

// Every change on the host that can change the plan, made after the plan
// was cached, is seen by the next check of the cache file: a program
// added, replaced (renamed over, as package managers do) or removed in
// an island, a folder added deep inside one, a symlink of a PATH folder
// retargeted, a folder that was absent appearing.
func TestCachedExecPlanSeesHostChanges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the cache file must be root's")
	}
	for _, c := range []struct {
		what   string
		change func(t *testing.T, island, bin, absent string)
	}{
		{"a program added", func(t *testing.T, island, _, _ string) {
			copyFile(t, "/usr/bin/bash", filepath.Join(island, "deep", "er", "new"))
		}},
		{"a program replaced", func(t *testing.T, island, _, _ string) {
			copyFile(t, "/usr/bin/bash", filepath.Join(island, ".new"))
			if err := os.Rename(filepath.Join(island, ".new"), filepath.Join(island, "deep", "er", "prog")); err != nil {
				t.Fatal(err)
			}
		}},
		{"a program removed", func(t *testing.T, island, _, _ string) {
			if err := os.Remove(filepath.Join(island, "deep", "er", "prog")); err != nil {
				t.Fatal(err)
			}
		}},
		{"a folder added", func(t *testing.T, island, _, _ string) {
			if err := os.Mkdir(filepath.Join(island, "deep", "er", "more"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"a symlink retargeted", func(t *testing.T, _, bin, _ string) {
			tmp := filepath.Join(bin, ".awk")
			if err := os.Symlink("/usr/bin/bash", tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(bin, "awk")); err != nil {
				t.Fatal(err)
			}
		}},
		{"an absent folder made", func(t *testing.T, _, _, absent string) {
			if err := os.Mkdir(absent, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.what, func(t *testing.T) {
			dir := t.TempDir()
			island, bin, absent := filepath.Join(dir, "island"), filepath.Join(dir, "bin"), filepath.Join(dir, "absent")
			copyFile(t, "/usr/bin/bash", filepath.Join(island, "deep", "er", "prog"))
			os.Mkdir(bin, 0o755)
			if err := os.Symlink("/usr/bin/true", filepath.Join(bin, "awk")); err != nil {
				t.Fatal(err)
			}
			stamps := map[string]int64{bin: mtimeOf(bin), absent: mtimeOf(absent)}
			if stamps[absent] != stampAbsent {
				t.Fatalf("stamp of an absent folder = %d, want %d", stamps[absent], stampAbsent)
			}
			masks, _ := scanIsland(island, stamps)
			b, _ := encodeExecPlan(&execPlan{Islands: []string{island}, Masks: masks, Stamps: stamps})
			file := filepath.Join(dir, "plan")
			if err := os.WriteFile(file, b, 0o600); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-time.Hour)
			os.Chtimes(file, old, old)
			if p, _ := cachedExecPlan(file); p == nil {
				t.Fatal("set-up: the fresh plan was not used")
			}
			// The check's stamps are mtimes: a change in the same tick of
			// the clock as the plan's scan would keep one.
			time.Sleep(20 * time.Millisecond)
			c.change(t, island, bin, absent)
			os.Chtimes(file, old, old)
			if p, _ := cachedExecPlan(file); p != nil {
				t.Errorf("%s after the plan was cached: the stale plan was used", c.what)
			}
			full, _ := loadExecPlan(file, true)
			if full == nil || full.fresh() {
				t.Errorf("%s: fresh() on the plan read with its stamps = true", c.what)
			}
		})
	}
}

// A stamp that cannot be read again proves nothing: a plan with one is
// never fresh, even when it was recorded as unreadable.
func TestStampUnreadableNeverFresh(t *testing.T) {
	p := &execPlan{Stamps: map[string]int64{"/no\x00where": stampUnreadable}}
	if p.fresh() {
		t.Error("a plan with an unreadable stamp is fresh")
	}
	if got := mtimeOf("/no\x00where"); got != stampUnreadable {
		t.Errorf("mtimeOf(a path with a NUL) = %d, want %d", got, stampUnreadable)
	}
}

// The check of the cache file's plan, on every sandbox start once the
// last check is older than recheckEvery, reads each stamp again without
// allocating for it: it was 3 allocations a stamp (the line, the path,
// the map), about 3,500 on a Debian host, and a map of a thousand paths
// built only to be walked once.
func TestCachedExecPlanCheckAllocs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the cache file must be root's")
	}
	dir := t.TempDir()
	stamps := map[string]int64{}
	for i := range 200 {
		d := filepath.Join(dir, "island", strconv.Itoa(i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	scanIsland(filepath.Join(dir, "island"), stamps)
	b, _ := encodeExecPlan(&execPlan{Islands: []string{filepath.Join(dir, "island")}, Stamps: stamps})
	file := filepath.Join(dir, "plan")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	allocs := testing.AllocsPerRun(5, func() {
		os.Chtimes(file, old, old) // the check due
		if p, _ := cachedExecPlan(file); p == nil {
			t.Fatal("the fresh plan was not used")
		}
	})
	if allocs >= float64(len(stamps)) {
		t.Errorf("checking %d stamps: %.0f allocations, want fewer than one a stamp", len(stamps), allocs)
	}
}
