package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// changeSettings makes one change of the authentication records through db.
func changeSettings(t *testing.T, db *DB, tn bulwark.TenantID) {
	t.Helper()
	if _, err := db.PutSettings(context.Background(), tn, bulwark.Settings{Model: "openai:x"}); err != nil {
		t.Fatal(err)
	}
}

// noStaleVersion fails the test if a reports the version v, stable: a
// cache of a would keep using what it read at v after a change it missed.
func noStaleVersion(t *testing.T, a *DB, v uint64, what string) {
	t.Helper()
	if got, stable, _ := a.AuthVersion(context.Background()); stable && got == v {
		t.Errorf("%s: a running process still reads version %d, stable: a key it cached before the change is still used", what, v)
	}
}

// TestAuthFileRemovedWhileOpen: an operator removes (or moves away, or
// renames another file over) bulwark.db-auth while a server runs; the
// next process (the CLI revoking a key) makes a new one. The running
// process must not keep trusting its old, orphaned file.
func TestAuthFileRemovedWhileOpen(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"removed", "moved away", "replaced by rename"} {
		t.Run(how, func(t *testing.T) {
			f := newFolder(t)
			a := f.open(t)
			tn := mustTenant(t, a, "acme")
			v, _, _ := a.AuthVersion(context.Background())
			p := f.dbPath + authFileSuffix
			switch how {
			case "removed":
				os.Remove(p)
			case "moved away":
				os.Rename(p, filepath.Join(f.dir, "old-auth"))
			case "replaced by rename":
				os.WriteFile(p+".new", make([]byte, authFileSize), 0o600)
				os.Rename(p+".new", p)
			}
			b := f.open(t)
			changeSettings(t, b, tn)
			noStaleVersion(t, a, v, "after the file was "+how+" and another process changed a key")
			// The other way: a change a makes would move only its orphaned
			// file, unseen by b; it is refused instead.
			if _, err := a.PutSettings(context.Background(), tn, bulwark.Settings{Model: "openai:y"}); err == nil {
				t.Errorf("after the file was %s, a change through the process holding the old one succeeded; want refused", how)
			}
			if s, _ := b.Settings(context.Background(), tn); s.Model == "openai:y" {
				t.Errorf("the refused change was written")
			}
		})
	}
}

// TestAuthFileRewoundInPlace: the file's counters go back (copied over
// from an old copy, or truncated and extended with zeros by the next
// opener) to a version a running process has cached at, after changes it
// has not seen: the ABA problem.
func TestAuthFileRewoundInPlace(t *testing.T) {
	t.Parallel()
	f := newFolder(t)
	a := f.open(t)
	tn := mustTenant(t, a, "acme")
	p := f.dbPath + authFileSuffix
	old, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	changeSettings(t, a, tn)
	changeSettings(t, a, tn)
	v, _, _ := a.AuthVersion(context.Background()) // a caches at v
	// Rewind in place (same inode, as cp does): the version goes back
	// two changes, then two changes a has not cached at bring it to v.
	if err := os.WriteFile(p, old, 0o600); err != nil {
		t.Fatal(err)
	}
	a.AuthVersion(context.Background()) // a request in between
	b := f.open(t)
	changeSettings(t, b, tn)
	changeSettings(t, b, tn)
	noStaleVersion(t, a, v, "after the file was rewound and changed again")
}

// TestAuthFileTruncatedReopened: a file cut short (to zero bytes) is
// extended by the next opener; the version it then starts from must not
// be one a running process already holds entries of.
func TestAuthFileTruncatedReopened(t *testing.T) {
	t.Parallel()
	f := newFolder(t)
	a := f.open(t)
	tn := mustTenant(t, a, "acme")
	changeSettings(t, a, tn)
	v, _, _ := a.AuthVersion(context.Background())
	a.Close()
	p := f.dbPath + authFileSuffix
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	b := f.open(t)
	changeSettings(t, b, tn)
	if got, _, _ := b.AuthVersion(context.Background()); got <= v {
		t.Errorf("after the file was cut short and reopened: version %d, not past %d it had reached", got, v)
	}
}

// TestAuthFileNotARegularFile: bulwark.db-auth as a symlink (to
// /dev/zero, whose shared mapping is private to each process, or to a
// file elsewhere) is refused, not followed.
func TestAuthFileNotARegularFile(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"/dev/zero", "elsewhere"} {
		f := newFolder(t)
		p := f.dbPath + authFileSuffix
		tgt := target
		if target == "elsewhere" {
			tgt = filepath.Join(t.TempDir(), "auth")
			os.WriteFile(tgt, make([]byte, authFileSize), 0o600)
		}
		if err := os.Symlink(tgt, p); err != nil {
			t.Fatal(err)
		}
		db, err := f.tryOpen()
		if err == nil {
			db.Close()
			t.Errorf("a %s symlinked to %s opened; want refused", authFileSuffix, target)
		}
	}
}

// TestAuthFileRelativePath: a version file opened by a relative path keeps
// its identity check (and so the cache and changes) after the process
// changes its working folder.
func TestAuthFileRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	a, err := openAuthVersion("bulwark.db")
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	t.Chdir(t.TempDir())
	if err := a.change(func() error { return nil }); err != nil {
		t.Errorf("a change after a change of working folder: %v", err)
	}
	if _, stable := a.version(); !stable {
		t.Error("after a change of working folder the version is not stable: nothing would be cached")
	}
}

// TestAuthFileCreatedByManyAtOnce: processes that start together on a
// database with no version file yet all map the same file, started once:
// a change by one is seen by all.
func TestAuthFileCreatedByManyAtOnce(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "bulwark.db")
	const n = 8
	as := make([]*authVersion, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			a, err := openAuthVersion(p)
			as[i] = a
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, a := range as {
			a.close()
		}
	}()
	v0, _ := as[0].version()
	if err := as[n-1].change(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	for i, a := range as {
		if v, stable := a.version(); v != v0+1 || !stable {
			t.Errorf("opening %d: version %d, stable %v; want %d, stable", i, v, stable, v0+1)
		}
	}
}

// BenchmarkAuthVersion is the cost of reading the version at a request.
func BenchmarkAuthVersion(b *testing.B) {
	a, err := openAuthVersion(filepath.Join(b.TempDir(), "bulwark.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer a.close()
	for b.Loop() {
		a.version()
	}
}
