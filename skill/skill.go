package skill

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
)

// Source is who wrote a skill, which decides how far it is trusted.
type Source int

const (
	// Operator skills come from the operator's folder (bulwark run
	// --skills, BULWARK_SKILLS_DIR): trusted like the operator's own
	// instructions.
	Operator Source = iota + 1
	// Tenant skills were written by a tenant's users through the API:
	// instructions of the same standing as a task's input, never the
	// operator's.
	Tenant
)

// Skill is one skill, ready to offer to a task.
type Skill struct {
	Meta
	Body   string
	Source Source

	root  string            // an operator skill's folder
	files map[string]string // a tenant skill's files other than SKILL.md
}

// Files lists the files beside SKILL.md, sorted (at most MaxFiles of an
// operator's skill).
func (s *Skill) Files() []string {
	if s.files != nil {
		return slices.Sorted(mapKeys(s.files))
	}
	var out []string
	r, err := os.OpenRoot(s.root)
	if err != nil {
		return nil
	}
	defer r.Close()
	_ = fs.WalkDir(r.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || len(out) >= MaxFiles {
			return fs.SkipDir
		}
		if d.Type().IsRegular() && p != Main {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// CleanPath checks the path of a file in a skill's folder: relative,
// slash-separated, without "." or ".." elements, empty elements,
// backslashes or NUL; it returns it unchanged or an Invalid error for the
// model or the uploader.
func CleanPath(p string) (string, error) {
	const op = "skill.path"
	if !fs.ValidPath(p) || p == "." || strings.ContainsAny(p, "\\\x00") {
		return "", bulwark.Errorf(bulwark.Invalid, op, "the path %q is not a file inside the skill's folder: give a relative path such as \"reference/forms.md\", without \"..\"", clip(p, 200))
	}
	return p, nil
}

// ReadFile returns the file p (beside SKILL.md, relative to the skill's
// folder). An operator skill's file is read through an os.Root of its
// folder, so that neither ".." nor a link leads out of it; a tenant
// skill's files are its stored ones. Files must be UTF-8 text of at most
// MaxFile bytes. Errors are for the model (Invalid, NotFound).
func (s *Skill) ReadFile(p string) (string, error) {
	const op = "skill.ReadFile"
	p, err := CleanPath(p)
	if err != nil {
		return "", err
	}
	if p == Main {
		return s.Body, nil
	}
	notFound := bulwark.Errorf(bulwark.NotFound, op, "the skill %q has no file %q", s.Name, p)
	if s.root == "" {
		data, ok := s.files[p]
		if !ok {
			return "", notFound
		}
		return data, nil
	}
	r, err := os.OpenRoot(s.root)
	if err != nil {
		return "", bulwark.E(bulwark.Unavailable, op, "the skill's folder cannot be opened", err)
	}
	defer r.Close()
	f, err := r.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", notFound
		}
		return "", bulwark.E(bulwark.PermissionDenied, op, "the file "+clip(p, 200)+" cannot be read: it is outside the skill's folder or not a regular file", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		return "", bulwark.Errorf(bulwark.Invalid, op, "%q is not a regular file", clip(p, 200))
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFile+1))
	if err != nil {
		return "", bulwark.E(bulwark.Unavailable, op, "the file cannot be read", err)
	}
	if len(data) > MaxFile {
		return "", bulwark.Errorf(bulwark.Invalid, op, "%q is over the limit of %d bytes", clip(p, 200), MaxFile)
	}
	if !utf8.Valid(data) {
		return "", bulwark.Errorf(bulwark.Invalid, op, "%q is not text", clip(p, 200))
	}
	return string(data), nil
}

// LoadDir reads the operator's skills: each folder of dir holding a
// SKILL.md is a skill, whose name must be the folder's. SKILL.md is read
// now (its other files when a task asks for them). A folder with a bad
// SKILL.md fails the whole load with an error that names it: an operator
// who configured a skill expects it to be there, so it is refused loudly
// rather than skipped. Folders without SKILL.md are ignored.
func LoadDir(dir string) ([]*Skill, error) {
	const op = "skill.LoadDir"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, bulwark.E(bulwark.Invalid, op, "the skills folder "+dir+" cannot be read: "+err.Error(), err)
	}
	var out []*Skill
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		folder := filepath.Join(dir, e.Name())
		r, err := os.OpenRoot(folder)
		if err != nil {
			return nil, bulwark.E(bulwark.Invalid, op, "the skill folder "+folder+" cannot be opened", err)
		}
		data, err := readMain(r)
		r.Close()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, bulwark.E(bulwark.Invalid, op, "skill "+e.Name()+": "+bulwark.ErrorMessage(err), err)
		}
		m, body, err := Parse(data)
		if err != nil {
			return nil, bulwark.E(bulwark.Invalid, op, "skill "+e.Name()+" ("+filepath.Join(folder, Main)+"): "+bulwark.ErrorMessage(err), err)
		}
		if m.Name != e.Name() {
			return nil, bulwark.Errorf(bulwark.Invalid, op, "skill %s: its SKILL.md names it %q; the name must be its folder's", e.Name(), m.Name)
		}
		out = append(out, &Skill{Meta: m, Body: body, Source: Operator, root: folder})
	}
	return out, nil
}

func readMain(r *os.Root) ([]byte, error) {
	f, err := r.Open(Main)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, bulwark.Errorf(bulwark.Invalid, "skill.LoadDir", "SKILL.md is not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFile+1))
	if err != nil {
		return nil, err
	}
	return data, nil
}

// FromFiles makes a tenant's skill from its files by path (SKILL.md and
// those beside it), checking everything an upload must satisfy: the
// front matter (Parse), that its name is name when name is given, the
// paths (CleanPath), UTF-8 text, MaxFile, MaxFiles and MaxSize. Errors are
// Invalid, with a message for the uploader.
func FromFiles(name string, files map[string]string) (*Skill, error) {
	const op = "skill.FromFiles"
	main, ok := files[Main]
	if !ok {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "a skill needs a file SKILL.md")
	}
	if len(files) > MaxFiles {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "a skill holds at most %d files; this one has %d", MaxFiles, len(files))
	}
	total := 0
	rest := map[string]string{}
	for p, data := range files {
		if _, err := CleanPath(p); err != nil {
			return nil, err
		}
		// A tenant's path is shown to the model (load_skill lists it) and
		// to every member: a line break in it would start a line of its
		// own there, a right-to-left override show it reversed.
		if strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f || bulwark.IsInvisibleFormat(r) }) {
			return nil, bulwark.Errorf(bulwark.Invalid, op, "the path %q holds a control or invisible character: give a plain path such as \"reference/forms.md\"", clip(p, 200))
		}
		if len(data) > MaxFile {
			return nil, bulwark.Errorf(bulwark.Invalid, op, "the file %q is %d bytes, over the limit of %d", clip(p, 200), len(data), MaxFile)
		}
		if !utf8.ValidString(data) {
			return nil, bulwark.Errorf(bulwark.Invalid, op, "the file %q is not UTF-8 text", clip(p, 200))
		}
		total += len(data)
		if p != Main {
			rest[p] = data
		}
	}
	if total > MaxSize {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "the skill's files hold %d bytes, over the limit of %d", total, MaxSize)
	}
	// A file may not also be a folder of another ("a" and "a/b").
	for p := range files {
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			if _, clash := files[dir]; clash {
				return nil, bulwark.Errorf(bulwark.Invalid, op, "%q is both a file and a folder", dir)
			}
		}
	}
	m, body, err := Parse([]byte(main))
	if err != nil {
		return nil, err
	}
	if name != "" && m.Name != name {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "the SKILL.md names the skill %q, not %q", m.Name, clip(name, 80))
	}
	return &Skill{Meta: m, Body: body, Source: Tenant, files: rest}, nil
}
