package taskenv

import "strings"

// joinLines joins the non-empty texts with newlines.
func joinLines(texts ...string) string {
	var out []string
	for _, t := range texts {
		if t != "" {
			out = append(out, t)
		}
	}
	return strings.Join(out, "\n")
}
