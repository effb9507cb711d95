package corpus

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// maxFileBytes caps what is read of one file; a chunk never needs more.
const maxFileBytes = 1 << 20

// localKind is one kind of installed text: which files, how to group them
// into documents for the split, and how to turn a file into text.
type localKind struct {
	kind    string
	n       int // chunks wanted
	perFile int // at most this many chunks of one file
	files   []string
	group   func(path string) string
	render  func(raw []byte) string
	// family names a larger set of files (a man page prefix, a module) of
	// which at most maxShare of the chunks are taken, so that one big
	// package (gcloud's 16,000 man pages, a generated SQLite port) does
	// not make up the whole kind.
	family   func(path string) string
	maxShare float64
}

func (b *builder) benign() error {
	seen := map[string]bool{}
	add := func(kind, doc, text string) bool {
		key := strings.Join(strings.Fields(text), " ")
		if seen[key] {
			return false
		}
		seen[key] = true
		b.addBenign(kind, doc, text)
		return true
	}
	kinds := []*localKind{
		{kind: "usr-share-doc", n: b.n(1500), perFile: 3, group: groupUnder(b.cfg.DocDir, 1), render: renderDoc, family: groupUnder(b.cfg.DocDir, 1), maxShare: 0.03},
		{kind: "man", n: b.n(1500), perFile: 2, group: groupMan, render: func(raw []byte) string { return StripRoff(string(raw)) }, family: manFamily, maxShare: 0.1},
		{kind: "gomod-doc", n: b.n(1000), perFile: 8, group: groupGoMod, render: renderDoc, family: goModule, maxShare: 0.15},
		{kind: "gomod-code", n: b.n(600), perFile: 2, group: groupGoMod, render: renderDoc, family: goModule, maxShare: 0.1},
		{kind: "npm-readme", n: b.n(700), perFile: 3, group: groupNode, render: renderDoc, family: groupNode, maxShare: 0.05},
		{kind: "npm-code", n: b.n(400), perFile: 2, group: groupNode, render: renderDoc, family: groupNode, maxShare: 0.1},
	}
	byKind := map[string]*localKind{}
	for _, k := range kinds {
		byKind[k.kind] = k
	}
	walk(b.cfg.DocDir, func(p string) {
		base := strings.ToLower(filepath.Base(p))
		base = strings.TrimSuffix(base, ".gz")
		switch {
		case base == "copyright" || strings.HasPrefix(base, "readme") || strings.HasPrefix(base, "news") ||
			strings.HasPrefix(base, "changelog") || strings.HasSuffix(base, ".md") || strings.HasSuffix(base, ".txt") ||
			strings.HasPrefix(base, "todo") || strings.HasSuffix(base, ".html") || base == "faq" || strings.HasPrefix(base, "authors"):
			byKind["usr-share-doc"].files = append(byKind["usr-share-doc"].files, p)
		}
	})
	walk(b.cfg.ManDir, func(p string) {
		if manPage.MatchString(p) {
			byKind["man"].files = append(byKind["man"].files, p)
		}
	})
	for _, root := range b.cfg.GoModDirs {
		walk(root, func(p string) {
			if strings.Contains(p, "/cache/") || strings.Contains(p, "/testdata/") {
				return
			}
			base := strings.ToLower(filepath.Base(p))
			switch {
			case strings.HasSuffix(base, ".md") || strings.HasPrefix(base, "readme") || base == "doc.go":
				byKind["gomod-doc"].files = append(byKind["gomod-doc"].files, p)
			case strings.HasSuffix(base, ".go") && !strings.HasSuffix(base, "_test.go"):
				byKind["gomod-code"].files = append(byKind["gomod-code"].files, p)
			}
		})
	}
	for _, root := range b.cfg.NodeDirs {
		walk(root, func(p string) {
			base := strings.ToLower(filepath.Base(p))
			switch {
			case strings.HasPrefix(base, "readme") || base == "changelog.md" || base == "history.md":
				byKind["npm-readme"].files = append(byKind["npm-readme"].files, p)
			case (strings.HasSuffix(base, ".js") || strings.HasSuffix(base, ".ts") || strings.HasSuffix(base, ".mjs")) &&
				!strings.HasSuffix(base, ".min.js") && !strings.HasSuffix(base, ".d.ts"):
				byKind["npm-code"].files = append(byKind["npm-code"].files, p)
			}
		})
	}
	for _, k := range kinds {
		b.takeLocal(k, add)
	}
	return b.generated(add)
}

// takeLocal shuffles k's files and cuts chunks from them until it has k.n.
func (b *builder) takeLocal(k *localKind, add func(kind, doc, text string) bool) {
	sort.Strings(k.files)
	r := b.rng("local/" + k.kind)
	r.Shuffle(len(k.files), func(i, j int) { k.files[i], k.files[j] = k.files[j], k.files[i] })
	got := 0
	perFamily := map[string]int{}
	limit := max(1, int(k.maxShare*float64(k.n)))
	for _, p := range k.files {
		if got >= k.n {
			break
		}
		fam := k.family(p)
		if perFamily[fam] >= limit {
			continue
		}
		raw, ok := readText(p)
		if !ok {
			continue
		}
		text := k.render(raw)
		if !utf8.ValidString(text) {
			continue
		}
		for _, c := range pickChunks(Chunks(text, r), k.perFile, r) {
			if got < k.n && perFamily[fam] < limit && add(k.kind, k.group(p), c) {
				got++
				perFamily[fam]++
			}
		}
	}
}

// walk calls fn for every regular file under root, in lexical order,
// following no symlinks; a missing root is skipped.
func walk(root string, fn func(path string)) {
	if root == "" {
		return
	}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			fn(p)
		}
		return nil
	})
}

// readText reads a file, gunzipping .gz, and refuses binary content.
func readText(p string) ([]byte, bool) {
	f, err := os.Open(p)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(p, ".gz") {
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, false
		}
		r = z
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxFileBytes))
	if err != nil && len(raw) == 0 {
		return nil, false
	}
	if bytes.IndexByte(raw, 0) >= 0 || !utf8.Valid(raw) {
		return nil, false
	}
	return raw, true
}

func renderDoc(raw []byte) string {
	s := strings.ReplaceAll(string(raw), "\r\n", "\n")
	return strings.TrimSpace(s)
}

// groupUnder names a file by its first depth path elements below root
// (the package of /usr/share/doc/<package>/...).
func groupUnder(root string, depth int) func(string) string {
	return func(p string) string {
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return p
		}
		parts := strings.Split(rel, "/")
		if len(parts) > depth {
			parts = parts[:depth]
		}
		return "doc:" + strings.Join(parts, "/")
	}
}

// groupMan names a page by its name alone, so its translations and
// sections are in one split.
func groupMan(p string) string {
	base := strings.TrimSuffix(filepath.Base(p), ".gz")
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	return "man:" + base
}

// manFamily names a man page's family by the first word of its name
// ("gcloud" for gcloud-compute-ssh.1).
func manFamily(p string) string {
	base := filepath.Base(p)
	if i := strings.IndexAny(base, "-_."); i > 0 {
		base = base[:i]
	}
	return base
}

// goModule names a file's module: the cache path up to the version.
func goModule(p string) string {
	i := strings.Index(p, "/pkg/mod/")
	rest := p
	if i >= 0 {
		rest = p[i+len("/pkg/mod/"):]
	}
	if j := versionSuffix.FindStringIndex(rest); j != nil {
		return rest[:j[0]]
	}
	return rest
}

var manPage = regexp.MustCompile(`\.[0-9][a-z]*(\.gz)?$`)

var versionSuffix = regexp.MustCompile(`@[^/]+`)

// groupGoMod names a file by its package: the module path without the
// version and the directory in the module, so two versions of a package
// are in one split.
func groupGoMod(p string) string {
	i := strings.Index(p, "/pkg/mod/")
	rest := p
	if i >= 0 {
		rest = p[i+len("/pkg/mod/"):]
	}
	return "gomod:" + filepath.Dir(versionSuffix.ReplaceAllString(rest, ""))
}

// groupNode names a file by its npm package (scoped or not).
func groupNode(p string) string {
	i := strings.LastIndex(p, "/node_modules/")
	if i < 0 {
		return "npm:" + p
	}
	parts := strings.Split(p[i+len("/node_modules/"):], "/")
	name := parts[0]
	if strings.HasPrefix(name, "@") && len(parts) > 1 {
		name += "/" + parts[1]
	}
	return "npm:" + name
}

// Chunks cuts text into pieces of realistic sizes (log-uniform between
// 200 bytes and 8 KiB), at paragraph boundaries where it can and at line
// boundaries inside a long paragraph. Pieces under 200 bytes are dropped.
func Chunks(text string, r *rand.Rand) []string {
	const lo, hi = 200, 8000
	target := func() int { return int(math.Exp(math.Log(lo) + r.Float64()*(math.Log(hi)-math.Log(lo)))) }
	var out []string
	var cur strings.Builder
	want := target()
	flush := func() {
		s := strings.TrimSpace(cur.String())
		if len(s) >= lo {
			out = append(out, s)
		}
		cur.Reset()
		want = target()
	}
	for _, para := range strings.SplitAfter(text, "\n\n") {
		if len(para) > hi {
			for _, line := range strings.SplitAfter(para, "\n") {
				if cur.Len()+len(line) > want && cur.Len() > 0 {
					flush()
				}
				if len(line) > hi {
					line = cutRunes(line, hi)
				}
				cur.WriteString(line)
			}
			continue
		}
		if cur.Len()+len(para) > want && cur.Len() > 0 {
			flush()
		}
		cur.WriteString(para)
	}
	flush()
	return out
}

// cutRunes shortens s to at most n bytes without splitting a rune.
func cutRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// pickChunks returns up to k of cs, drawn without replacement, in order.
func pickChunks(cs []string, k int, r *rand.Rand) []string {
	if len(cs) <= k {
		return cs
	}
	idx := r.Perm(len(cs))[:k]
	sort.Ints(idx)
	out := make([]string, k)
	for i, j := range idx {
		out[i] = cs[j]
	}
	return out
}
