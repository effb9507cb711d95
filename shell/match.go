package shell

import (
	"strings"

	"github.com/bulwark-agents/bulwark"
)

// Match reports whether c matches pattern, a canonical pattern from
// Pattern. It does when c's canonical line matches pattern as a glob (*
// any run of characters, ? one), or, where pattern has a * and names a
// program whose flags are normalised, when c has every flag of the pattern
// (others too: that is what the * allows) and c's operands match the
// pattern's. So "rm -f -r *" matches `rm -I -rf /`, whose line "rm -I -f -r
// /" the glob alone misses, while "rm -f -r /", without a *, matches only
// what it says.
func Match(pattern string, c Command) bool {
	if match(pattern, c) {
		return true
	}
	// The files its redirections read and write are part of what a
	// command does: *.env matches cat < x.env and echo x > y.env.
	return len(c.Redirs) > 0 && glob(pattern, c.String()+" "+strings.Join(c.Redirs, " "))
}

func match(pattern string, c Command) bool {
	if glob(pattern, c.String()) {
		return true
	}
	if !strings.Contains(pattern, "*") {
		return false
	}
	pw := strings.Split(pattern, " ")
	if pw[0] != c.Name {
		return false
	}
	o, pargs, cargs := tools.Get()[c.Name], pw[1:], c.Args
	if c.Name == "git" {
		if len(pargs) == 0 || len(cargs) == 0 || pargs[0] != cargs[0] || gitCommands.Get()[pargs[0]] == nil {
			return false
		}
		o, pargs, cargs = merge(gitGlobal.Get(), gitCommands.Get()[pargs[0]]), pargs[1:], cargs[1:]
	}
	if o == nil {
		return false
	}
	pf, po := o.parse(staticArgs(pargs))
	cf, co := o.parse(staticArgs(cargs))
	for _, p := range pf {
		found := false
		for _, f := range cf {
			if glob(strings.Join(p.words, " "), strings.Join(f.words, " ")) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return glob(joinArgs(po), joinArgs(co))
}

func staticArgs(ws []string) []arg {
	out := make([]arg, len(ws))
	for i, w := range ws {
		out[i] = arg{text: w, static: true}
	}
	return out
}

func joinArgs(as []arg) string {
	return strings.Join(texts(as), " ")
}

// merge returns the options of both a and b (b's where they differ).
func merge(a, b *options) *options {
	m := &options{
		bools:    a.bools + b.bools,
		values:   a.values + b.values,
		optional: a.optional + b.optional,
		alias:    map[byte]byte{},
		long:     map[string]long{},
	}
	for _, o := range []*options{a, b} {
		for k, v := range o.alias {
			m.alias[k] = v
		}
		for k, v := range o.long {
			m.long[k] = v
		}
	}
	return m
}

// glob is bulwark.Glob: * matches any run of characters and ? one; a * in
// s is an ordinary character.
var glob = bulwark.Glob
