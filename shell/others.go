package shell

import (
	"path"
	"regexp"
	"strings"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// runsOthers reports the commands that coreutils and the text tools of the
// sandbox's default allowlist run when asked to: split --filter=SCRIPT
// gives SCRIPT to a shell; sort --compress-program=PROG runs PROG with the
// data to sort on its standard input (a shell there runs the data); awk's
// system(), pipes and getline from a command, and sed's e command and s///e
// flag run text as commands. These are dynamic where what they run cannot
// be read from the script.
func (w *walker) runsOthers(prog string, args []arg, depth int) {
	if w.pattern {
		return
	}
	switch prog {
	case "split":
		if v, ok := longValue(args, "filter", 1); ok {
			w.nested("split --filter", v, depth)
		}
	case "sort":
		if v, ok := longValue(args, "compress-program", 1); ok {
			switch {
			case !v.static:
				w.dyn("sort --compress-program runs a program only known when it runs")
			case shells.Get()[path.Base(v.text)]:
				w.dyn("sort --compress-program=%s runs the data to sort as a script", v.text)
			default:
				w.run([]arg{v}, depth+1)
			}
		}
	case "awk", "gawk", "mawk", "nawk":
		// The program is the first operand, or the value of gawk's
		// -e, --source and -W source (--source=P, -Wsource=P): any word
		// that runs a command makes the script dynamic. -v and -F take
		// values, and a -f file holds a program not seen here (a limit).
		for _, a := range args {
			if a.static && awkRuns.Get().MatchString(a.text) {
				w.dyn("%s may run commands its program builds (system, pipes, getline from a command)", prog)
				return
			}
		}
		for i := 0; i < len(args); i++ {
			a := args[i]
			switch {
			case a.static && (a.text == "-v" || a.text == "-F" || a.text == "-f" || a.text == "--assign" || a.text == "--field-separator"):
				if a.text == "-f" {
					return
				}
				i++
				continue
			case a.static && (a.text == "--"):
				continue
			case strings.HasPrefix(a.lead+a.text, "-"):
				if strings.HasPrefix(a.text, "-f") {
					return
				}
				continue
			}
			if !a.static || awkRuns.Get().MatchString(a.text) {
				w.dyn("%s may run commands its program builds (system, pipes, getline from a command)", prog)
			}
			return
		}
	case "sed":
		// Variables in a script are read as written: sed "s/a/$b/" stays
		// static (a value that adds an e flag is a limit).
		// The scripts are the words, and the values of -e as getopt
		// reads them (--expression=S, --expr S, -ne'S').
		scripts := texts(args)
		flags, _ := tools.Get()["sed"].parse(args)
		for _, f := range flags {
			scripts = append(scripts, f.words[1:]...)
		}
		for _, s := range scripts {
			if sedRuns.Get().MatchString(s) || sedSubstExec(s) {
				w.dyn("sed's e command and s///e flag run text as commands")
				return
			}
		}
	}
}

var (
	// awkRuns finds what lets an awk program run a command: system(),
	// print or printf into a pipe, "cmd" | getline.
	awkRuns = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp {
		return regexp.MustCompile(`system\s*\(|\|\s*getline|\|&|(print|printf)[^;}\n]*\||@[A-Za-z_]\w*\s*\(`)
	}}
	// sedRuns finds sed's e command, at the start of a command, after an
	// address (1e CMD, /x/e).
	sedRuns = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp {
		return regexp.MustCompile(`(^|[;{}\n])\s*([0-9$]+|/[^/]*/)?(,\s*([0-9$]+|/[^/]*/))?\s*!?\s*e(\s|;|$)`)
	}}
)

// sedSubstExec reports whether a sed script has an s command with the e
// flag (s/a/b/e, s|a|b|ge), which runs the pattern space as a command.
func sedSubstExec(script string) bool {
	for i := 0; i+1 < len(script); i++ {
		if script[i] != 's' {
			continue
		}
		d := script[i+1]
		if d == '\\' || d == '\n' || d == ' ' || d >= 'a' && d <= 'z' || d >= 'A' && d <= 'Z' || d >= '0' && d <= '9' {
			continue
		}
		j, fields := i+2, 0
		for j < len(script) && fields < 2 {
			switch script[j] {
			case '\\':
				j++
			case d:
				fields++
			}
			j++
		}
		if fields < 2 {
			continue
		}
		k := j
		for k < len(script) && (script[k] >= 'a' && script[k] <= 'z' || script[k] >= 'A' && script[k] <= 'Z' || script[k] >= '0' && script[k] <= '9') {
			k++
		}
		if strings.ContainsRune(script[j:k], 'e') {
			return true
		}
	}
	return false
}

// longValue returns the value of the long option --name (or an
// unambiguous prefix of at least min letters), as --name=V or --name V.
func longValue(args []arg, name string, min int) (arg, bool) {
	for i, a := range args {
		if !strings.HasPrefix(a.text, "--") || a.text == "--" {
			continue
		}
		n, v, hasV := strings.Cut(a.text[2:], "=")
		if len(n) < min || !strings.HasPrefix(name, n) {
			continue
		}
		if hasV {
			return arg{text: v, static: a.static}, true
		}
		if i+1 < len(args) {
			return args[i+1], true
		}
	}
	return arg{}, false
}
