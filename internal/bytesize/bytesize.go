// Package bytesize writes byte counts for people, in binary units.
package bytesize

import (
	"fmt"
	"strings"
)

// scale returns n in the largest binary unit (KiB to PiB) it fills at
// least once, and that unit; n below 1 KiB comes back in bytes, unit "".
func scale(n int64) (float64, string) {
	const unit = 1024
	if n < unit {
		return float64(n), ""
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return float64(n) / float64(div), string("KMGTP"[exp]) + "iB"
}

// Text writes n for a message: "512 bytes", "25 MiB", "1.5 GiB" (one
// decimal, dropped when it is 0).
func Text(n int64) string {
	v, unit := scale(n)
	if unit == "" {
		return fmt.Sprintf("%d bytes", n)
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0") + " " + unit
}

// Fixed writes n with one decimal always, for a figure redrawn in place
// (a progress line) that should not change width: "512 B", "20.0 MiB".
func Fixed(n int64) string {
	v, unit := scale(n)
	if unit == "" {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}
