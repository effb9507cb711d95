package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// Every command's help is written once, as a usage text (synopsis, what it
// does, an example) given to newFlagSet or helpRequested; the flags and
// their defaults are added from the flag set. Help goes to stdout and exits
// 0: `bulwark help CMD [SUB]`, `bulwark CMD --help`, `bulwark CMD SUB --help`.

// errHelpShown says the usage was printed on request: fail exits 0 for it.
var errHelpShown = errors.New("help shown")

// isHelp says arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help"
}

// flagSet is a command's flag set with its usage text.
type flagSet struct {
	*flag.FlagSet
	usage string
}

// newFlagSet makes the flag set of the command name ("run", "tasks list")
// whose help is usage, followed by the flags with their defaults.
func newFlagSet(name, usage string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{fs, usage}
}

// printUsage writes the usage text and the flags to w.
func (f *flagSet) printUsage(w io.Writer) {
	fmt.Fprintln(w, strings.TrimRight(f.usage, "\n"))
	n := 0
	f.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		f.VisitAll(func(fl *flag.Flag) { fmt.Fprint(w, flagHelp(fl)) })
	}
}

// flagHelp is one flag's lines in the usage: written --name, as the
// synopsis and the README write it (Go's PrintDefaults writes -name), with
// its default unless it is the zero value.
func flagHelp(fl *flag.Flag) string {
	typ, usage := flag.UnquoteUsage(fl)
	line := "  --" + fl.Name
	if typ != "" {
		line += " " + typ
	}
	line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
	switch def := fl.DefValue; def {
	case "", "0", "false", "0s":
	default:
		if g, ok := fl.Value.(flag.Getter); ok {
			if _, isString := g.Get().(string); isString {
				def = strconv.Quote(def)
			}
		}
		line += " (default " + def + ")"
	}
	return line + "\n"
}

// parse parses args, flags first and then arguments (a "--" ends the
// flags). Help prints the usage on s.out and returns errHelpShown; a bad
// flag is a usage error saying what was expected.
func (f *flagSet) parse(args []string, s stdio) error {
	if err := f.Parse(args); err != nil {
		return f.flagError(err, s)
	}
	return nil
}

// parseMixed parses args where flags and arguments may come in any order,
// and returns the arguments.
func (f *flagSet) parseMixed(args []string, s stdio) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			return nil, f.flagError(err, s)
		}
		args = f.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// invalidValue matches the flag package's error for a value that does not parse.
var invalidValue = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp {
	return regexp.MustCompile(`^invalid (boolean )?value ("(?:[^"\\]|\\.)*") for (?:flag )?-([\w-]+): (.*)$`)
}}

func (f *flagSet) flagError(err error, s stdio) error {
	if errors.Is(err, flag.ErrHelp) {
		f.printUsage(s.out)
		return errHelpShown
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		msg = "unknown flag -" + name
	} else if m := invalidValue.Get().FindStringSubmatch(msg); m != nil {
		why := m[4]
		switch {
		case why == "parse error" && m[1] != "":
			why = "want true or false"
		case why == "parse error" || why == "value out of range":
			why = "want a whole number"
		}
		msg = fmt.Sprintf("--%s %s: %s", m[3], m[2], why) // --timeout "5": a duration needs a unit...
	}
	return usagef("%s: %s (see 'bulwark help %s')", f.Name(), msg, f.Name())
}

// helpRequested handles a command with subcommands called with no
// arguments (usage on stderr, exit 2) or asking for help (usage on stdout,
// exit 0); done says it did. `CMD SUB --help` is left to SUB's flag set.
func helpRequested(args []string, usage string, s stdio) (code int, done bool) {
	switch {
	case len(args) == 0:
		fmt.Fprintln(s.err, usage)
		return exitUsage, true
	case isHelp(args[0]):
		fmt.Fprintln(s.out, usage)
		return exitOK, true
	}
	return 0, false
}

// durationFlag is a time.Duration flag whose error says what to write: a
// plain number is refused with the seconds spelled out ("5" is not taken
// as 5 seconds, nor as 5 nanoseconds, silently).
type durationFlag struct{ d *time.Duration }

func newDurationFlag(fs *flagSet, name string, value time.Duration, usage string) *time.Duration {
	d := value
	fs.Var(durationFlag{&d}, name, usage)
	return &d
}

func (f durationFlag) String() string {
	if f.d == nil {
		return "0s"
	}
	return shortDuration(*f.d)
}

// shortDuration writes d as a person would: 30m, not 30m0s.
func shortDuration(d time.Duration) string {
	out := d.String()
	if strings.HasSuffix(out, "m0s") {
		out = strings.TrimSuffix(out, "0s")
	}
	if strings.HasSuffix(out, "h0m") {
		out = strings.TrimSuffix(out, "0m")
	}
	return out
}

func (f durationFlag) Set(v string) error {
	d, err := parseDurationFlag(v)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

// parseDurationFlag reads a duration as a person types it ("90s", "5m",
// "1h30m"); a number without a unit gets the units suggested.
func parseDurationFlag(v string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err == nil {
		return d, nil
	}
	if _, nerr := strconv.ParseFloat(strings.TrimSpace(v), 64); nerr == nil {
		return 0, fmt.Errorf("a duration needs a unit: %ss (seconds), %sm (minutes) or %sh (hours)", v, v, v)
	}
	return 0, errors.New("not a duration: write it like 30s, 5m or 1h30m")
}
