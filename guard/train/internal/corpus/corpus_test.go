package corpus

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fixture writes a small fake machine: docs, man pages, a Go module and an
// npm package, and returns a Config reading only from it.
func fixture(t *testing.T) Config {
	t.Helper()
	dir := t.TempDir()
	para := strings.Repeat("This paragraph documents the tool and how to configure it for daily use. ", 6)
	write := func(rel, text string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 40; i++ {
		n := string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		write("doc/pkg"+n+"/README", "# pkg"+n+"\n\n"+para+n+"\n\n"+para+"\n\n"+para)
		write("man/man1/tool"+n+".1", ".TH TOOL 1\n.SH NAME\ntool"+n+" \\- does things\n.SH DESCRIPTION\n.B tool\nreads \\fBfiles\\fR.\n.PP\n"+para+n)
		write("gomod/example.com/m"+n+"@v1.0.0/README.md", "# m"+n+"\n\n"+para+n)
		write("node/p"+n+"/README.md", "# p"+n+"\n\n"+para+n)
	}
	return Config{Seed: 7, DocDir: filepath.Join(dir, "doc"), ManDir: filepath.Join(dir, "man"),
		GoModDirs: []string{filepath.Join(dir, "gomod")}, NodeDirs: []string{filepath.Join(dir, "node")},
		LogDir: filepath.Join(dir, "log"), DpkgStatus: filepath.Join(dir, "status"), Scale: 0.1}
}

func TestBuildIsDeterministic(t *testing.T) {
	cfg := fixture(t)
	a, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two builds with the same seed differ")
	}
	if len(a) == 0 {
		t.Fatal("empty corpus")
	}
	cfg.Seed++
	c, _ := Build(cfg)
	if reflect.DeepEqual(a, c) {
		t.Error("a different seed gave the same corpus")
	}
}

// TestSplitsAreDisjoint checks the promise the held-out figures rest on: no
// document and no attack family is on two sides.
func TestSplitsAreDisjoint(t *testing.T) {
	exs, err := Build(fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	docSplit := map[string]string{}
	famSplit := map[string]string{}
	kinds := map[string]bool{}
	for _, e := range exs {
		kinds[e.Source] = true
		if e.Text == "" || (e.Label != Benign && e.Label != Injection) {
			t.Fatalf("bad example %+v", e)
		}
		check := func(m map[string]string, key string) {
			if key == "" {
				return
			}
			if s, ok := m[key]; ok && s != e.Split {
				t.Errorf("%q is in %s and %s", key, s, e.Split)
			}
			m[key] = e.Split
		}
		if e.Label == Benign {
			check(docSplit, e.Doc)
		} else {
			check(famSplit, e.Family)
		}
	}
	for src := range kinds {
		if licenceOf(src) == "" {
			t.Errorf("source %s has no licence note", src)
		}
	}
	// A planted attack sits in a document of its own split.
	for _, e := range exs {
		if e.Label == Injection && e.Doc != "" {
			if s, ok := docSplit[e.Doc]; ok && s != e.Split {
				t.Errorf("attack of %s (%s) planted into %s, a document of %s", e.Family, e.Split, e.Doc, s)
			}
		}
	}
	for _, want := range []string{"benign:usr-share-doc", "benign:man", "benign:gomod-doc", "benign:npm-readme", "benign:email", "benign:security-prose"} {
		if !kinds[want] {
			t.Errorf("no texts of %s", want)
		}
	}
}

func TestChunksSizes(t *testing.T) {
	cfg := fixture(t)
	b := &builder{cfg: cfg}
	text := strings.Repeat(strings.Repeat("word ", 40)+"\n\n", 400)
	for _, c := range Chunks(text, b.rng("t")) {
		if len(c) < 200 || len(c) > 8000 {
			t.Errorf("chunk of %d bytes", len(c))
		}
	}
}

func TestStripRoffAccents(t *testing.T) {
	got := StripRoff("Utilit\\('ario de gest\\(~ao, fran\\(,cais, \\[u00E9]t\\['e] Stra\\(sse")
	want := "Utilitário de gestão, français, été Straße"
	if got != want {
		t.Errorf("StripRoff = %q, want %q", got, want)
	}
}

func TestStripRoff(t *testing.T) {
	got := StripRoff(".\\\" comment\n.TH LS 1\n.SH NAME\nls \\- list\n.SH OPTIONS\n.TP\n\\fB\\-a\\fR, \\fB\\-\\-all\\fR\ndo not ignore\n.BR ls (1)\n")
	want := "NAME\nls - list\n\nOPTIONS\n-a, --all\ndo not ignore\nls(1)"
	if got != want {
		t.Errorf("StripRoff = %q, want %q", got, want)
	}
}

func TestFamiliesCoverEveryLanguage(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Families {
		if seen[f.Name] {
			t.Errorf("family %s twice", f.Name)
		}
		seen[f.Name] = true
		if f.Split != Train && f.Split != Dev && f.Split != Heldout {
			t.Errorf("family %s: split %q", f.Name, f.Split)
		}
		for _, l := range Langs {
			if len(f.Templates[l]) == 0 {
				t.Errorf("family %s has no %s template", f.Name, l)
			}
		}
		if len(actions[f.Name]) == 0 {
			t.Errorf("family %s has no actions", f.Name)
		}
	}
}

func TestPlantKeepsDocument(t *testing.T) {
	cfg := fixture(t)
	b := &builder{cfg: cfg}
	r := b.rng("t")
	doc := "First paragraph. It has two sentences.\n\nSecond paragraph.\n\nThird paragraph, the last."
	for _, c := range []string{"paragraph", "sentence", "markdown-quote", "table-cell", "html-comment", "html-hidden", "alt-text", "markdown-image", "json-field", "code-comment", "shell-comment", "log-line", "email-ps", "html-paragraph"} {
		for _, pos := range positions {
			got := plant(doc, "PAYLOAD do this", c, pos, r)
			if !strings.Contains(got, "PAYLOAD do this") {
				t.Errorf("plant(%s, %s) lost the payload: %q", c, pos, got)
			}
			for _, w := range strings.Fields(doc) {
				if !strings.Contains(got, w) {
					t.Errorf("plant(%s, %s) lost %q of the document: %q", c, pos, w, got)
				}
			}
		}
	}
}

// TestHeldoutAttacksShareNoSlotValues checks that no attacker address,
// command, file or framing of the training families appears in a held-out
// or dev one, which would let a model pass them by memory.
func TestHeldoutAttacksShareNoSlotValues(t *testing.T) {
	for _, other := range []string{Dev, Heldout} {
		for slot, vs := range attackSlots[other] {
			for _, v := range vs {
				for _, tv := range attackSlots[Train][slot] {
					if v == tv {
						t.Errorf("slot %s value %q is in train and %s", slot, v, other)
					}
				}
			}
		}
		for lang, fs := range framings[other] {
			for _, f := range fs {
				for _, tf := range framings[Train][lang] {
					if f != "" && f == tf {
						t.Errorf("framing %q (%s) is in train and %s", f, lang, other)
					}
				}
			}
		}
	}
	for _, other := range []string{Dev, Heldout} {
		for _, f := range frames[other] {
			for _, tf := range frames[Train] {
				if f == tf {
					t.Errorf("frame %q is in train and %s", f, other)
				}
			}
		}
	}
	for _, s := range Splits {
		if len(frames[s]) == 0 {
			t.Errorf("no frames for %s", s)
		}
		for _, l := range Langs {
			if len(framings[s][l]) == 0 {
				t.Errorf("no %s framings for %s", s, l)
			}
		}
	}
}
