package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The entries in testdata/osv are copies of the real database's:
// GO-2021-0113 (golang.org/x/text), GO-2022-0229 (stdlib and
// golang.org/x/crypto) and GO-2023-1497 (one module listed twice).

func TestBuildLayout(t *testing.T) {
	out := filepath.Join(t.TempDir(), "db")
	at := time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)
	n, err := build("testdata/osv", out, at)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if n != 3 {
		t.Errorf("build wrote %d entries, want 3", n)
	}

	var db dbMeta
	readJSON(t, filepath.Join(out, "index", "db.json"), &db)
	if !db.Modified.Equal(at) {
		t.Errorf("db.json modified = %v, want %v (the entries say less)", db.Modified, at)
	}

	var mods []moduleMeta
	readJSON(t, filepath.Join(out, "index", "modules.json"), &mods)
	want := map[string][]string{
		"github.com/sylabs/scs-library-client": {"GO-2023-1497"},
		"golang.org/x/crypto":                  {"GO-2022-0229"},
		"golang.org/x/text":                    {"GO-2021-0113"},
		"stdlib":                               {"GO-2022-0229"},
	}
	if len(mods) != len(want) {
		t.Errorf("modules.json lists %d modules, want %d: %+v", len(mods), len(want), mods)
	}
	for i, m := range mods {
		if i > 0 && mods[i-1].Path >= m.Path {
			t.Errorf("modules.json is not sorted by path: %q before %q", mods[i-1].Path, m.Path)
		}
		var ids []string
		for _, v := range m.Vulns {
			ids = append(ids, v.ID)
		}
		if got, w := strings.Join(ids, ","), strings.Join(want[m.Path], ","); got != w {
			t.Errorf("modules.json: %s has %q, want %q", m.Path, got, w)
		}
	}

	var vulns []vulnMeta
	readJSON(t, filepath.Join(out, "index", "vulns.json"), &vulns)
	if len(vulns) != 3 || vulns[0].ID != "GO-2021-0113" || vulns[2].ID != "GO-2023-1497" {
		t.Errorf("vulns.json = %+v, want the three entries sorted by id", vulns)
	}
	if len(vulns) > 1 && strings.Join(vulns[1].Aliases, ",") != "CVE-2020-7919,GHSA-cjjc-xp8v-855w" {
		t.Errorf("vulns.json: GO-2022-0229 aliases = %q", vulns[1].Aliases)
	}

	// Each entry is copied unchanged under ID/.
	for _, id := range []string{"GO-2021-0113", "GO-2022-0229", "GO-2023-1497"} {
		src, err := os.ReadFile(filepath.Join("testdata", "osv", id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(out, "ID", id+".json"))
		if err != nil {
			t.Errorf("ID/%s.json: %v", id, err)
			continue
		}
		if !bytes.Equal(got, src) {
			t.Errorf("ID/%s.json differs from the OSV entry it was copied from", id)
		}
	}
}

// The "fixed" field is left out of the modules index: with it,
// govulncheck would skip entries on its word alone.
func TestBuildLeavesOutFixed(t *testing.T) {
	out := filepath.Join(t.TempDir(), "db")
	if _, err := build("testdata/osv", out, time.Time{}); err != nil {
		t.Fatalf("build: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(out, "index", "modules.json"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(`"fixed"`)) {
		t.Errorf("modules.json has a fixed version: %s", b)
	}
}

// Entries that would make a database quietly smaller, and folders that
// would mix two databases, are refused.
func TestBuildRefuses(t *testing.T) {
	entry, err := os.ReadFile("testdata/osv/GO-2021-0113.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file, content, want string
	}{
		{"renamed entry", "GO-2021-0999.json", string(entry), "named after its id"},
		{"not JSON", "GO-2021-0113.json", "{", "not an OSV entry"},
		{"not a Go id", "CVE-2021-1.json", `{"id": "CVE-2021-1", "affected": [{"package": {"name": "x", "ecosystem": "Go"}}]}`, "not a Go vulnerability ID"},
		{"no module", "GO-2021-0001.json", `{"id": "GO-2021-0001"}`, "names no affected module"},
		{"other ecosystem", "GO-2021-0001.json", `{"id": "GO-2021-0001", "affected": [{"package": {"name": "x", "ecosystem": "npm"}}]}`, "not in the Go ecosystem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := build(dir, filepath.Join(t.TempDir(), "db"), time.Time{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("build(%s) = %v, want an error with %q", tt.name, err, tt.want)
			}
		})
	}

	if _, err := build(t.TempDir(), filepath.Join(t.TempDir(), "db"), time.Time{}); err == nil || !strings.Contains(err.Error(), "no OSV entries") {
		t.Errorf("build(empty folder) = %v, want an error with %q", err, "no OSV entries")
	}
	if _, err := build("testdata/osv", t.TempDir(), time.Time{}); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("build(into an existing folder) = %v, want an error with %q", err, "exists already")
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
