package bulwark

import "fmt"

// TaintMode says what makes a task tainted: from then on, its calls with
// side effects that the policy allows need a person's approval.
type TaintMode string

const (
	// TaintDetected taints a task when the guard flags text it read as
	// prompt injection. The default.
	TaintDetected TaintMode = "detected"
	// TaintSource taints a task as soon as the model sees text from
	// outside (fetched pages, search results, MCP tools, uploaded files),
	// whatever the guard says of it.
	TaintSource TaintMode = "source"
	// TaintOff never taints a task: untrusted text is still marked and
	// screened, and the guard's findings are still events, but nothing
	// waits for a person because of them.
	TaintOff TaintMode = "off"
)

// ParseTaintMode reads a taint mode; "" is TaintDetected.
func ParseTaintMode(s string) (TaintMode, error) {
	switch m := TaintMode(s); m {
	case "":
		return TaintDetected, nil
	case TaintDetected, TaintSource, TaintOff:
		return m, nil
	}
	return "", Errorf(Invalid, "taint.mode", "unknown taint mode %q: use detected, source or off", s)
}

// String is the mode's name.
func (m TaintMode) String() string {
	if m == "" {
		return string(TaintDetected)
	}
	return string(m)
}

var _ fmt.Stringer = TaintMode("")
