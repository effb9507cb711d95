package metrics

import (
	"fmt"
	"strconv"
	"strings"
)

// parsedFamily is a family read back from the text format by parseText.
type parsedFamily struct {
	help, typ string
	series    []parsedSeries
}

type parsedSeries struct {
	name   string // with its suffix (_sum, _count)
	labels [][2]string
	value  float64
}

// parseText reads the text exposition format (version 0.0.4) strictly,
// as this package writes it: HELP then TYPE before the samples of each
// family, labels in braces, no timestamps. It is the tests' reader, not
// Prometheus' (promtool is, in TestPromtoolCheckMetrics).
func parseText(s string) (map[string]*parsedFamily, []string, error) {
	fams := map[string]*parsedFamily{}
	var order []string
	var cur *parsedFamily
	var curName string
	if s != "" && !strings.HasSuffix(s, "\n") {
		return nil, nil, fmt.Errorf("text does not end with a newline")
	}
	for i, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		fail := func(format string, a ...any) error {
			return fmt.Errorf("line %d %q: %s", i+1, line, fmt.Sprintf(format, a...))
		}
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			if fams[name] != nil {
				return nil, nil, fail("second HELP of %s", name)
			}
			h, err := unescape(help, false)
			if err != nil {
				return nil, nil, fail("%v", err)
			}
			cur, curName = &parsedFamily{help: h}, name
			fams[name] = cur
			order = append(order, name)
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			if cur == nil || name != curName || cur.typ != "" {
				return nil, nil, fail("TYPE not right after the HELP of its family")
			}
			cur.typ = typ
			continue
		}
		if cur == nil || cur.typ == "" {
			return nil, nil, fail("sample before HELP and TYPE")
		}
		var ps parsedSeries
		j := strings.IndexAny(line, "{ ")
		if j < 0 {
			return nil, nil, fail("no value")
		}
		ps.name = line[:j]
		if !strings.HasPrefix(ps.name, curName) {
			return nil, nil, fail("sample of another family than %s", curName)
		}
		rest := line[j:]
		if rest[0] == '{' {
			rest = rest[1:]
			for !strings.HasPrefix(rest, "}") {
				name, after, ok := strings.Cut(rest, `="`)
				if !ok || !validName(name, false) {
					return nil, nil, fail("bad label name in %q", rest)
				}
				end := -1
				for k := 0; k < len(after); k++ {
					if after[k] == '\\' {
						k++
					} else if after[k] == '"' {
						end = k
						break
					}
				}
				if end < 0 {
					return nil, nil, fail("unterminated label value")
				}
				v, err := unescape(after[:end], true)
				if err != nil {
					return nil, nil, fail("%v", err)
				}
				ps.labels = append(ps.labels, [2]string{name, v})
				rest = after[end+1:]
				if r, ok := strings.CutPrefix(rest, ","); ok {
					rest = r
				} else if !strings.HasPrefix(rest, "}") {
					return nil, nil, fail("want , or } after a label")
				}
			}
			rest = rest[1:]
		}
		v, ok := strings.CutPrefix(rest, " ")
		if !ok {
			return nil, nil, fail("no space before the value")
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, nil, fail("value: %v", err)
		}
		ps.value = f
		cur.series = append(cur.series, ps)
	}
	return fams, order, nil
}

// unescape undoes the format's escapes: \\ and \n, and \" in a label
// value. Any other backslash is an error (the writer never makes one).
func unescape(s string, quoted bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			if s[i] == '\n' || (quoted && s[i] == '"') {
				return "", fmt.Errorf("unescaped %q in %q", s[i], s)
			}
			b.WriteByte(s[i])
			continue
		}
		i++
		switch {
		case i == len(s):
			return "", fmt.Errorf("trailing backslash in %q", s)
		case s[i] == '\\':
			b.WriteByte('\\')
		case s[i] == 'n':
			b.WriteByte('\n')
		case s[i] == '"' && quoted:
			b.WriteByte('"')
		default:
			return "", fmt.Errorf("unknown escape \\%c in %q", s[i], s)
		}
	}
	return b.String(), nil
}
