// Package affix measures what two strings share at their ends.
package affix

// Prefix returns how many bytes a and b share at their start.
func Prefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// Suffix returns how many bytes a and b share at their end.
func Suffix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[len(a)-1-n] == b[len(b)-1-n] {
		n++
	}
	return n
}
