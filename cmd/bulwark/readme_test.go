package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeSynopses: the README's synopsis of run and tasks names every
// flag of the command's own usage line, and its text is not pasted twice
// (a paragraph repeated by a merge).
func TestReadmeSynopses(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	flagRE := regexp.MustCompile(`\[(--[a-z-]+)`)
	for _, c := range []struct{ usage, readmeStart string }{
		{runUsage, "    bulwark run ["},
		{tasksUsage, "    bulwark tasks list ["},
	} {
		i := strings.Index(readme, c.readmeStart)
		if i < 0 {
			t.Errorf("README has no synopsis starting %q", c.readmeStart)
			continue
		}
		block := readme[i:]
		if j := strings.Index(block, "\n\n"); j > 0 {
			block = block[:j]
		}
		line := strings.SplitN(c.usage, "\n\n", 2)[0]
		for _, m := range flagRE.FindAllStringSubmatch(line, -1) {
			if m[1] == "--data" {
				continue // the data folder is described once, under Configuration
			}
			if !strings.Contains(block, m[1]) {
				t.Errorf("README's synopsis %q lacks %s", c.readmeStart, m[1])
			}
		}
	}
	seen := map[string]bool{}
	for _, para := range strings.Split(readme, "\n\n") {
		if len(para) < 200 {
			continue
		}
		if seen[para] {
			t.Errorf("README repeats a paragraph:\n%s", para)
		}
		seen[para] = true
	}
	for _, para := range strings.Split(readme, "\n\n") {
		if first, _, _ := strings.Cut(para, "\n"); strings.HasPrefix(first, "usage. ") { // the tail of the run paragraph, pasted again
			t.Errorf("README has a paragraph that starts mid-sentence: %q", first)
		}
	}
}

// TestReadmeNamesEveryVariable: every BULWARK_ variable the code reads is
// in the README, so a person can find what a setting does and its default.
func TestReadmeNamesEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	nameRE := regexp.MustCompile(`"(BULWARK_[A-Z_]+)"`)
	err = filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range nameRE.FindAllStringSubmatch(string(src), -1) {
			if strings.HasPrefix(m[1], "BULWARK_TEST_") || !strings.Contains(string(src), "env") {
				continue
			}
			if !strings.Contains(readme, m[1]) {
				t.Errorf("%s reads %s, which the README does not name", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
