package main

import (
	"fmt"
	"io"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/guard"
)

// injectionSettings are the operator's defences against prompt injection
// in the text tasks read: what taints a task (BULWARK_TAINT) and how
// untrusted text is marked for the model (BULWARK_SPOTLIGHT).
type injectionSettings struct {
	taint     bulwark.TaintMode
	spotlight guard.SpotlightMode
}

// taintOffWarning is printed at start when taint is off.
const taintOffWarning = "bulwark: WARNING: BULWARK_TAINT=off: text the guard flags as prompt injection no longer makes a task ask a person " +
	"before actions with side effects (a leaked canary is still blocked; a tenant's settings can still turn taint on for its tasks)"

// readInjectionSettings reads BULWARK_TAINT and BULWARK_SPOTLIGHT, or
// taint and spotlight where given (bulwark run's flags), and warns on w
// when taint is off.
func readInjectionSettings(w io.Writer, taint, spotlight string) (injectionSettings, error) {
	var s injectionSettings
	name := "--taint"
	if taint == "" {
		taint, name = env("BULWARK_TAINT"), "BULWARK_TAINT"
	}
	t, err := bulwark.ParseTaintMode(taint)
	if err != nil {
		return s, usagef("%s=%q: want detected (the default: text the guard flags taints the task), source (any text from outside taints it) or off", name, taint)
	}
	name = "--spotlight"
	if spotlight == "" {
		spotlight, name = env("BULWARK_SPOTLIGHT"), "BULWARK_SPOTLIGHT"
	}
	sp, err := guard.ParseSpotlightMode(spotlight)
	if err != nil {
		return s, usagef("%s=%q: want delimit (the default: untrusted text between markers) or datamark (markers, and a marker character between its words)", name, spotlight)
	}
	if t == bulwark.TaintOff {
		fmt.Fprintln(w, taintOffWarning)
	}
	return injectionSettings{taint: t, spotlight: sp}, nil
}

// forTenant is the taint mode of a task of a tenant whose settings say
// tenant: the stricter of the operator's and the tenant's, so that a
// tenant can make taint stricter for its tasks but never weaker.
func (s injectionSettings) forTenant(tenant bulwark.TaintMode) bulwark.TaintMode {
	return bulwark.StricterTaint(s.taint, tenant)
}
