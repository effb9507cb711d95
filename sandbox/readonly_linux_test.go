package sandbox

import "testing"

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`: "/a b", `/a\011b\012`: "/a\tb\n", `/x\134y`: `/x\y`, `/odd\04`: `/odd\04`, `/\999`: `/\999`, `/plain`: "/plain",
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}
