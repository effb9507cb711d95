package main

import (
	"bytes"
	"compress/gzip"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// A doc is a benign document of the kind an agent reads, with the part it
// belongs to: "train" (fitting), "calib" (threshold tuning) or "test"
// (reported figures only).
type doc struct {
	Text, Kind, Part string
}

// partOf assigns a key (a path, or a source and index) to a part by its
// hash: 60 % train, 20 % calib, 20 % test. It depends on the key alone, so
// adding files to a corpus does not move the others.
func partOf(key string) string {
	h := fnv.New64a()
	h.Write([]byte(key))
	switch h.Sum64() % 10 {
	case 0, 1:
		return "test"
	case 2, 3:
		return "calib"
	}
	return "train"
}

// corpusSource is a folder of the machine whose files are read as benign
// documents of one kind.
type corpusSource struct {
	kind, root string
	keep       func(path string) bool
	max        int // files kept at most, chosen by hash of the path
}

func ext(path string, exts ...string) bool {
	p := strings.TrimSuffix(strings.ToLower(path), ".gz")
	for _, e := range exts {
		if strings.HasSuffix(p, e) {
			return true
		}
	}
	return false
}

// benignSources is the benign corpus: the documentation Debian installs,
// man pages, and the Go module cache (READMEs, Go source, JSON, YAML,
// HTML). Nothing of it is committed: it is read from the machine at
// training time.
func benignSources(goMod string) []corpusSource {
	return []corpusSource{
		{"doc", "/usr/share/doc", func(p string) bool {
			b := strings.ToLower(filepath.Base(p))
			return strings.HasPrefix(b, "readme") || strings.HasPrefix(b, "changelog") || strings.HasPrefix(b, "news") ||
				b == "copyright" || ext(p, ".md", ".txt", ".rst")
		}, 1500},
		{"html", "/usr/share/doc", func(p string) bool { return ext(p, ".html", ".htm") }, 400},
		{"man", "/usr/share/man", func(p string) bool { return ext(p, ".1", ".5", ".8", ".3", ".7") }, 1200},
		{"readme", goMod, func(p string) bool { return ext(p, ".md") }, 1200},
		{"code", goMod, func(p string) bool { return ext(p, ".go", ".py", ".sh", ".js", ".ts", ".c") }, 1200},
		{"data", goMod, func(p string) bool { return ext(p, ".json", ".yaml", ".yml", ".toml", ".csv") }, 600},
		{"log", "/var/log", func(p string) bool { return ext(p, ".log") }, 50},
	}
}

// maxDoc is the most bytes of a file kept as a document: pages of the size
// an agent reads in one tool call.
const maxDoc = 6000

// loadCorpus reads the benign corpus. Files are picked by hash of their
// path and cut to a window whose offset is also drawn from the hash, so the
// same machine gives the same corpus.
func loadCorpus(sources []corpusSource) []doc {
	var out []doc
	for _, src := range sources {
		var paths []string
		filepath.WalkDir(src.root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() {
				if b := d.Name(); b == "testdata" || b == "vendor" || b == "node_modules" || strings.HasPrefix(b, ".") && p != src.root {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() && src.keep(p) {
				paths = append(paths, p)
			}
			return nil
		})
		sort.Slice(paths, func(i, j int) bool { return hashKey(paths[i]) < hashKey(paths[j]) })
		n := 0
		for _, p := range paths {
			if n >= src.max {
				break
			}
			text := readDoc(p, src.kind)
			if len(strings.Fields(text)) < 20 {
				continue
			}
			out = append(out, doc{Text: text, Kind: src.kind, Part: partOf(p)})
			n++
		}
	}
	return out
}

func hashKey(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func readDoc(path, kind string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return ""
		}
		r = zr
	}
	data, _ := io.ReadAll(io.LimitReader(r, 256<<10))
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		return ""
	}
	text := string(data)
	if kind == "man" {
		text = stripTroff(text)
	}
	if len(text) > maxDoc {
		// A window of the file, from a line start chosen by the path.
		off := int(hashKey(path) % uint64(len(text)-maxDoc+1))
		if i := strings.IndexByte(text[off:], '\n'); i >= 0 && i < 400 {
			off += i + 1
		}
		end := min(len(text), off+maxDoc)
		for end > off && !utf8.RuneStart(text[end-1]) {
			end--
		}
		text = text[off:end]
		if i := strings.LastIndexByte(text, '\n'); i > len(text)/2 {
			text = text[:i]
		}
	}
	return strings.TrimSpace(text)
}

var troffEscape = regexp.MustCompile(`\\f[BIRP]|\\f\(..|\\\(..|\\[&|^\-e]|\\s[-+]?\d`)

// stripTroff turns man page source into roughly what man shows: requests
// dropped or reduced to their text, font escapes removed.
func stripTroff(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, `.\"`) || strings.HasPrefix(line, `'\"`) {
			continue
		}
		if strings.HasPrefix(line, ".") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case ".SH", ".SS", ".B", ".I", ".BR", ".IR", ".RB", ".RI", ".BI", ".IB", ".TP", ".IP", ".Nm", ".Op", ".Ar", ".Fl", ".Xr", ".Sh", ".It", ".Pa":
				line = strings.ReplaceAll(strings.Join(f[1:], " "), `"`, "")
			default:
				continue
			}
		}
		b.WriteString(troffEscape.ReplaceAllString(line, ""))
		b.WriteByte('\n')
	}
	return b.String()
}
