package shell

import (
	"sort"
	"strings"
)

// options describes the command-line options of one program, enough to
// tell its flags from its operands and to write each flag one way.
type options struct {
	bools    string          // short flags without a value
	values   string          // short flags with a value, attached or next
	optional string          // short flags with an optional attached value (sed -i.bak)
	alias    map[byte]byte   // short flags that are another's synonym (rm -R is -r)
	long     map[string]long // long flags by full name
}

// long is one long option.
type long struct {
	short byte // the short flag it is written as, or 0 to keep the long name
	value int  // noValue, needsValue or mayValue
}

const (
	noValue    = iota
	needsValue // --name=V or --name V
	mayValue   // --name or --name=V
)

// newOptions builds options from compact specs: shorts lists the flags
// without a value, values those with one, optional those with an optional
// attached one; aliases is "R=r ..." and longs is a space separated list
// of long names, each followed by ":" if it needs a value or "?" if it may
// have one, and by "=x" if it is written as the short flag -x.
func newOptions(shorts, values, optional, aliases, longs string) *options {
	o := &options{bools: shorts, values: values, optional: optional, alias: map[byte]byte{}, long: map[string]long{}}
	for _, a := range strings.Fields(aliases) {
		o.alias[a[0]] = a[2]
	}
	for _, l := range strings.Fields(longs) {
		var lo long
		if i := strings.IndexByte(l, '='); i >= 0 {
			lo.short, l = l[i+1], l[:i]
		}
		switch {
		case strings.HasSuffix(l, ":"):
			lo.value, l = needsValue, l[:len(l)-1]
		case strings.HasSuffix(l, "?"):
			lo.value, l = mayValue, l[:len(l)-1]
		}
		o.long[l] = lo
	}
	return o
}

// flag is one option after normalisation.
type flag struct {
	key   string // how it sorts: "-r", "--one-file-system"
	words []string
}

// lookupLong returns the long option named, or one of which name is an
// unambiguous prefix, as getopt_long accepts (rm --rec is rm --recursive).
func (o *options) lookupLong(name string) (string, long, bool) {
	if l, ok := o.long[name]; ok {
		return name, l, true
	}
	found, n := "", 0
	for full := range o.long {
		if strings.HasPrefix(full, name) {
			found, n = full, n+1
		}
	}
	if n != 1 {
		return "", long{}, false
	}
	return found, o.long[found], true
}

// parse splits args into normalised flags and operands, GNU style: flags
// may follow operands, and "--" ends them. A word only known at run time
// is an operand.
func (o *options) parse(args []arg) (flags []flag, operands []arg) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		s := a.text
		switch {
		case !a.static && strings.HasPrefix(a.lead, "-") && !o.valueFlag(a):
			// Flags only known at run time (rm -r$x), kept as written.
			flags = append(flags, flag{key: s, words: []string{s}})
		case !a.static && !o.valueFlag(a), len(s) < 2, s[0] != '-':
			operands = append(operands, a)
		case s == "--":
			operands = append(operands, args[i+1:]...)
			return flags, operands
		case strings.HasPrefix(s, "--"):
			var f flag
			f, i = o.parseLong(args, i)
			flags = append(flags, f)
		default:
			var fs []flag
			fs, i = o.parseShort(args, i)
			flags = append(flags, fs...)
		}
	}
	return flags, operands
}

// parseLong reads the long option at args[i] and returns it and the index
// of its last word.
func (o *options) parseLong(args []arg, i int) (flag, int) {
	s := args[i].text
	name, val, hasVal := strings.Cut(s[2:], "=")
	full, l, ok := o.lookupLong(name)
	if !ok {
		return flag{key: s, words: []string{s}}, i
	}
	if l.value == needsValue && !hasVal && i+1 < len(args) {
		i++
		val, hasVal = args[i].text, true
	}
	switch {
	case l.short != 0 && !hasVal:
		k := "-" + string(l.short)
		return flag{key: k, words: []string{k}}, i
	case l.short != 0 && l.value == needsValue:
		k := "-" + string(l.short)
		return flag{key: k, words: []string{k, val}}, i
	case l.short != 0 && strings.IndexByte(o.optional, l.short) >= 0:
		k := "-" + string(l.short)
		return flag{key: k, words: []string{k + val}}, i
	case hasVal:
		return flag{key: "--" + full, words: []string{"--" + full + "=" + val}}, i
	}
	return flag{key: "--" + full, words: []string{"--" + full}}, i
}

// parseShort reads the cluster of short flags at args[i] and returns them
// and the index of its last word. A cluster with a character the table
// does not know is kept whole.
func (o *options) parseShort(args []arg, i int) ([]flag, int) {
	s := args[i].text
	var fs []flag
	for j := 1; j < len(s); j++ {
		c := s[j]
		if a, ok := o.alias[c]; ok {
			c = a
		}
		k := "-" + string(c)
		switch {
		case strings.IndexByte(o.bools, c) >= 0:
			fs = append(fs, flag{key: k, words: []string{k}})
		case strings.IndexByte(o.values, c) >= 0:
			if j+1 < len(s) {
				return append(fs, flag{key: k, words: []string{k, s[j+1:]}}), i
			}
			if i+1 < len(args) {
				return append(fs, flag{key: k, words: []string{k, args[i+1].text}}), i + 1
			}
			return append(fs, flag{key: k, words: []string{k}}), i
		case strings.IndexByte(o.optional, c) >= 0:
			return append(fs, flag{key: k, words: []string{k + s[j+1:]}}), i
		default:
			return []flag{{key: s, words: []string{s}}}, i
		}
	}
	return fs, i
}

// canonical writes flags sorted and without repeats, then the operands in
// their order, with "--" between when an operand could be read as a flag.
func canonical(flags []flag, operands []arg) []string {
	sort.SliceStable(flags, func(i, j int) bool {
		if flags[i].key != flags[j].key {
			return flags[i].key < flags[j].key
		}
		return strings.Join(flags[i].words, " ") < strings.Join(flags[j].words, " ")
	})
	var out []string
	last := ""
	for _, f := range flags {
		w := strings.Join(f.words, "\x00")
		if w == last {
			continue
		}
		last = w
		out = append(out, f.words...)
	}
	for i, a := range operands {
		if strings.HasPrefix(a.text, "-") && len(a.text) > 1 {
			out = append(out, "--")
			for _, a := range operands[i:] {
				out = append(out, a.text)
			}
			return out
		}
		out = append(out, a.text)
	}
	return out
}

// valueFlag reports whether a word with a run-time part is a flag whose
// value holds it ("-o$out", "--output=$out").
func (o *options) valueFlag(a arg) bool {
	if !strings.HasPrefix(a.lead, "-") || a.lead == "-" {
		return false
	}
	if strings.HasPrefix(a.lead, "--") {
		return strings.Contains(a.lead, "=")
	}
	return strings.ContainsAny(a.lead[1:], o.values+o.optional)
}

// runtimeFlags returns the words of args that could add flags at run time:
// those that start as flags and go on with a run-time part, "-r$x" or
// "-rf${IFS}x" (x=f makes -rf), "--$x", and those that start with one,
// "$o" or "$(opts)" (o=-rf makes rm $o x the rm -rf x a rule denies). A
// run-time part in a flag's value ("-o$out", "--output=$out") adds none.
// Only words before "--" count.
func (o *options) runtimeFlags(args []arg) []string {
	var out []string
	for _, a := range args {
		if a.static && a.text == "--" {
			break
		}
		if a.static || a.lead != "" && !strings.HasPrefix(a.lead, "-") {
			continue
		}
		if a.lead == "" || !o.valueFlag(a) {
			out = append(out, a.text)
		}
	}
	return out
}
