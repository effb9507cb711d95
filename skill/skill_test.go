package skill

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

var parseTests = []struct {
	in       string
	name     string
	desc     string
	body     string
	errMatch string // "" means no error
}{
	{in: "---\nname: pdf-forms\ndescription: Fill PDF forms.\n---\n# Steps\nDo it.\n", name: "pdf-forms", desc: "Fill PDF forms.", body: "# Steps\nDo it.\n"},
	{in: "---\r\nname: a\r\ndescription: \"quoted: yes\"\r\n---\r\nbody", name: "a", desc: "quoted: yes", body: "body"},
	{in: "---\nname: a\ndescription: 'it''s'\nlicense: MIT\nmetadata:\n  author: x\n  version: \"1\"\nallowed-tools:\n- Read\n- Bash\n---\n", name: "a", desc: "it's"},
	{in: "---\nname: a\ndescription: >\n  one\n  two\n\n  three\n---\nb", name: "a", desc: "one two\nthree", body: "b"},
	{in: "---\nname: a\ndescription: |\n  one\n  two\n---\n", name: "a", desc: "one\ntwo"},
	{in: "---\nname: a # comment\ndescription: plain\n  continued\n---\n", name: "a", desc: "plain continued"},
	{in: "no front matter", errMatch: "must start with front matter"},
	{in: "---\nname: a\ndescription: x\n", errMatch: "no closing"},
	{in: "---\ndescription: x\n---\n", errMatch: "no name"},
	{in: "---\nname: a\n---\n", errMatch: "no description"},
	{in: "---\nname: Bad_Name\ndescription: x\n---\n", errMatch: "lowercase letters"},
	{in: "---\nname: -a\ndescription: x\n---\n", errMatch: "hyphen"},
	{in: "---\nname: a--b\ndescription: x\n---\n", errMatch: "two hyphens"},
	{in: "---\nname: " + strings.Repeat("a", 65) + "\ndescription: x\n---\n", errMatch: "longer than 64"},
	{in: "---\nname: a\ndescription: " + strings.Repeat("x", 1025) + "\n---\n", errMatch: "over the limit of 1024"},
	{in: "---\nname: a\nname: b\ndescription: x\n---\n", errMatch: "given twice"},
	{in: "---\nname: a\ndescription: x\n\tfoo: 1\n---\n", errMatch: "tab"},
	{in: "---\nname: a\ndescription: x\njust text\n---\n", errMatch: "key: value"},
	{in: "---\nname:a\ndescription: x\n---\n", errMatch: "space after the colon"},
	{in: "---\nname: a\ndescription: \"open\n---\n", errMatch: "double-quoted"},
	{in: "---\nname: a\ndescription: *alias\n---\n", errMatch: "may not start"},
	{in: "---\nname: a\ndescription: \"bell\\a\"\n---\n", errMatch: "control character"},
	{in: "---\nname: ../x\ndescription: x\n---\n", errMatch: "lowercase letters"},
	{in: "\xff---", errMatch: "not UTF-8"},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		m, body, err := Parse([]byte(tt.in))
		if tt.errMatch != "" {
			if err == nil || !strings.Contains(bulwark.ErrorMessage(err), tt.errMatch) {
				t.Errorf("Parse(%q) error = %v, want one saying %q", tt.in, err, tt.errMatch)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q) error = %v", tt.in, err)
			continue
		}
		if m.Name != tt.name || m.Description != tt.desc || (tt.body != "" && body != tt.body) {
			t.Errorf("Parse(%q) = %q, %q, body %q; want %q, %q, body %q", tt.in, m.Name, m.Description, body, tt.name, tt.desc, tt.body)
		}
	}
}

// FuzzParse: Parse never panics, and what it accepts satisfies the
// promises the prompt and the tools rely on.
func FuzzParse(f *testing.F) {
	for _, tt := range parseTests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, _, err := Parse(data)
		if err != nil {
			if bulwark.ErrorKind(err) != bulwark.Invalid {
				t.Fatalf("Parse error of kind %v, want Invalid: %v", bulwark.ErrorKind(err), err)
			}
			return
		}
		if CheckName(m.Name) != nil || checkDescription(m.Description) != nil {
			t.Fatalf("Parse accepted name %q, description %q", m.Name, m.Description)
		}
	})
}

func writeSkill(t *testing.T, dir, name, body string, extra map[string]string) {
	t.Helper()
	d := filepath.Join(dir, name)
	must(t, os.MkdirAll(d, 0o755))
	must(t, os.WriteFile(filepath.Join(d, Main), []byte("---\nname: "+name+"\ndescription: The "+name+" skill.\n---\n"+body), 0o644))
	for p, c := range extra {
		must(t, os.MkdirAll(filepath.Dir(filepath.Join(d, p)), 0o755))
		must(t, os.WriteFile(filepath.Join(d, p), []byte(c), 0o644))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestReadFileConfined: a skill's files are read inside its folder only:
// "..", absolute paths and links that lead out are refused, for the
// operator's skills (a real folder) and a tenant's (stored files).
func TestReadFileConfined(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("TOP-SECRET"), 0o644))
	writeSkill(t, dir, "alpha", "Alpha body.", map[string]string{"ref/guide.md": "guide text"})
	writeSkill(t, dir, "beta", "Beta body.", nil)
	must(t, os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(dir, "alpha", "link.txt")))
	must(t, os.Symlink(outside, filepath.Join(dir, "alpha", "out")))
	must(t, os.Symlink(filepath.Join(dir, "beta", Main), filepath.Join(dir, "alpha", "sibling.md")))
	ops, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := FromFiles("gamma", map[string]string{
		Main:       "---\nname: gamma\ndescription: Gamma.\n---\nGamma body.",
		"notes.md": "gamma notes",
	})
	if err != nil {
		t.Fatal(err)
	}
	set := NewSet(ops, []*Skill{tenant})
	read := func(name, p string) (string, error) {
		args, _ := json.Marshal(map[string]string{"name": name, "path": p})
		res, err := Tools(set)[1].Run(context.Background(), nil, args)
		return res.Output, err
	}
	if out, err := read("alpha", "ref/guide.md"); err != nil || !strings.Contains(out, "guide text") {
		t.Errorf("read alpha/ref/guide.md = %q, %v", out, err)
	}
	if out, err := read("gamma", "notes.md"); err != nil || !strings.Contains(out, "gamma notes") {
		t.Errorf("read gamma/notes.md = %q, %v", out, err)
	}
	for _, c := range []struct{ name, path string }{
		{"alpha", "../beta/SKILL.md"}, {"alpha", "ref/../../beta/SKILL.md"}, {"alpha", filepath.Join(outside, "secret.txt")},
		{"alpha", "/etc/passwd"}, {"alpha", "link.txt"}, {"alpha", "out/secret.txt"}, {"alpha", "sibling.md"},
		{"alpha", "ref\\..\\..\\beta\\SKILL.md"}, {"alpha", "./ref/guide.md"}, {"alpha", ""},
		{"gamma", "../alpha/SKILL.md"}, {"gamma", "/notes.md"}, {"nosuch", "x"},
	} {
		out, err := read(c.name, c.path)
		if err == nil || strings.Contains(out, "TOP-SECRET") || strings.Contains(out, "Beta body") {
			t.Errorf("read_skill_file(%q, %q) = %q, %v; want refused", c.name, c.path, out, err)
		}
	}
	if _, err := FromFiles("", map[string]string{Main: "---\nname: x\ndescription: d\n---\n", "../up.md": "x"}); err == nil {
		t.Error("FromFiles took a file path with ..")
	}
	if _, err := FromFiles("", map[string]string{Main: "---\nname: x\ndescription: d\n---\n", "/abs.md": "x"}); err == nil {
		t.Error("FromFiles took an absolute file path")
	}
}

// TestLoadDirRefusesBadSkill: a bad operator skill stops the load and the
// error names it.
func TestLoadDirRefusesBadSkill(t *testing.T) {
	dir := t.TempDir()
	writeSkill(t, dir, "good", "ok", nil)
	must(t, os.MkdirAll(filepath.Join(dir, "broken"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "broken", Main), []byte("---\nname: broken\n---\n"), 0o644))
	_, err := LoadDir(dir)
	if err == nil || !strings.Contains(bulwark.ErrorMessage(err), "skill broken") {
		t.Fatalf("LoadDir with a bad skill = %v, want an error naming it", err)
	}
	dir2 := t.TempDir()
	writeSkill(t, dir2, "named", "ok", nil)
	must(t, os.Rename(filepath.Join(dir2, "named"), filepath.Join(dir2, "other")))
	if _, err := LoadDir(dir2); err == nil || !strings.Contains(bulwark.ErrorMessage(err), "folder") {
		t.Errorf("LoadDir with a name unlike the folder = %v", err)
	}
}

// TestPromptListsDescriptionsOnly: the prompt names each skill and its
// description, never its body; the operator's skill wins a name clash and
// the tenant's are marked as the tenant's.
func TestPromptListsDescriptionsOnly(t *testing.T) {
	dir := t.TempDir()
	writeSkill(t, dir, "shared", "OPERATOR-BODY", nil)
	mine, err := FromFiles("shared", map[string]string{Main: "---\nname: shared\ndescription: Tenant version.\n---\nTENANT-BODY"})
	must(t, err)
	own, err := FromFiles("own", map[string]string{Main: "---\nname: own\ndescription: Tenant own.\n---\nOWN-BODY"})
	must(t, err)
	ops, err := LoadDir(dir)
	must(t, err)
	set := NewSet(ops, []*Skill{mine, own})
	p := set.Prompt()
	for _, bad := range []string{"OPERATOR-BODY", "TENANT-BODY", "OWN-BODY", "Tenant version."} {
		if strings.Contains(p, bad) {
			t.Errorf("the prompt holds %q:\n%s", bad, p)
		}
	}
	for _, want := range []string{"- shared: The shared skill.", "- own: Tenant own.", "not by the operator"} {
		if !strings.Contains(p, want) {
			t.Errorf("the prompt lacks %q:\n%s", want, p)
		}
	}
	if len(set.Shadowed) != 1 || set.Shadowed[0] != "shared" {
		t.Errorf("Shadowed = %v, want [shared]", set.Shadowed)
	}
	res, err := Tools(set)[0].Run(context.Background(), nil, json.RawMessage(`{"name":"shared"}`))
	if err != nil || !strings.Contains(res.Output, "OPERATOR-BODY") {
		t.Errorf("load_skill shared = %q, %v; want the operator's", res.Output, err)
	}
	res, err = Tools(set)[0].Run(context.Background(), nil, json.RawMessage(`{"name":"own"}`))
	if err != nil || !strings.Contains(res.Output, "OWN-BODY") || !strings.Contains(res.Output, "not by the operator") {
		t.Errorf("load_skill own = %q, %v; want the body marked as the tenant's", res.Output, err)
	}
}

// TestPromptCapped: many skills do not grow the prompt past its cap.
func TestPromptCapped(t *testing.T) {
	var many []*Skill
	for i := range 300 {
		k, err := FromFiles("", map[string]string{Main: "---\nname: s" + strings.Repeat("x", i%50) + "-" + string(rune('a'+i%26)) + "\ndescription: " + strings.Repeat("d", 1000) + "\n---\n"})
		must(t, err)
		k.Name += "-" + strings.Repeat("y", i/26)
		many = append(many, k)
	}
	p := NewSet(nil, many).Prompt()
	if len(p) > MaxListing || !strings.Contains(p, "more skills are not listed") {
		t.Errorf("the prompt of 300 skills is %d bytes (cap %d) and says %q", len(p), MaxListing, p[max(0, len(p)-200):])
	}
}

// FuzzCleanPath: a path CleanPath accepts is relative and has no ".." or
// "." element, backslash or NUL: it cannot name a file outside the
// skill's folder.
func FuzzCleanPath(f *testing.F) {
	for _, p := range []string{"a.md", "ref/x.md", "../x", "/etc/passwd", "a/../../b", "a\\..\\b", "./a", "a//b", ""} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := CleanPath(p)
		if err != nil {
			return
		}
		if got != p || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") {
			t.Fatalf("CleanPath(%q) accepted", p)
		}
		for _, el := range strings.Split(p, "/") {
			if el == ".." || el == "." || el == "" {
				t.Fatalf("CleanPath(%q) accepted an element %q", p, el)
			}
		}
	})
}
