package main

import (
	"slices"
	"testing"
)

// TestAllowedFileTypesSpellings: BULWARK_ALLOWED_FILE_TYPES takes
// extensions with or without their dot, in any case, and refuses at
// start what the server could never match (it compares extensions in
// ASCII, one dot): a Unicode look-alike, a double extension, a stray dot
// or space. A refusal names no more than the offending entry.
func TestAllowedFileTypesSpellings(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string // nil: refused
	}{
		{".txt,CSV, .Md ,,", []string{".txt", ".csv", ".md"}},
		{"c++,tar-gz,x_y", []string{".c++", ".tar-gz", ".x_y"}},
		{".c\u017fv", nil},  // long s
		{".\u212aey", nil},  // Kelvin sign
		{".tar.gz", nil},    // two extensions
		{"txt.", nil},       // a trailing dot
		{".", nil},          // no letters
		{"..txt", nil},      // two dots
		{".t xt", nil},      // a space inside
		{".txt\u200b", nil}, // an invisible character
	} {
		t.Run(tt.in, func(t *testing.T) {
			old := env
			env = func(name string) string {
				if name == "BULWARK_ALLOWED_FILE_TYPES" {
					return tt.in
				}
				return ""
			}
			defer func() { env = old }()
			fs, err := readFileSettings()
			switch {
			case tt.want == nil && err == nil:
				t.Errorf("BULWARK_ALLOWED_FILE_TYPES=%q accepted as %q, want refused", tt.in, fs.types)
			case tt.want != nil && (err != nil || !slices.Equal(fs.types, tt.want)):
				t.Errorf("BULWARK_ALLOWED_FILE_TYPES=%q = %q, %v; want %q", tt.in, fs.types, err, tt.want)
			}
		})
	}
}
