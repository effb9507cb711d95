package bytesize

import "testing"

func TestText(t *testing.T) {
	for _, c := range []struct {
		n           int64
		text, fixed string
	}{
		{0, "0 bytes", "0 B"},
		{1023, "1023 bytes", "1023 B"},
		{1024, "1 KiB", "1.0 KiB"},
		{1536, "1.5 KiB", "1.5 KiB"},
		{20 << 20, "20 MiB", "20.0 MiB"},
		{25<<20 + 1, "25 MiB", "25.0 MiB"},
		{3 << 30, "3 GiB", "3.0 GiB"},
		{3<<30 + 512<<20, "3.5 GiB", "3.5 GiB"},
		{5 << 50, "5 PiB", "5.0 PiB"},
		{5000 << 50, "5000 PiB", "5000.0 PiB"},
	} {
		if got := Text(c.n); got != c.text {
			t.Errorf("Text(%d) = %q, want %q", c.n, got, c.text)
		}
		if got := Fixed(c.n); got != c.fixed {
			t.Errorf("Fixed(%d) = %q, want %q", c.n, got, c.fixed)
		}
	}
}
