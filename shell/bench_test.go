package shell_test

import (
	"testing"

	"github.com/bulwark-agents/bulwark/shell"
)

// The cost policy adds to each run_shell call: reading its script.
var benchScripts = map[string]string{
	"simple":   "python3 greet.py Ada",
	"pipeline": "cd build && make -j2 2>&1 | tail -n 20; ls -la out/ | grep -v tmp",
	"nested":   `bash -c 'for f in *.py; do timeout 5 python3 "$f" || echo "failed: $f"; done' && find . -name '*.pyc' -delete`,
}

func BenchmarkParse(b *testing.B) {
	for name, src := range benchScripts {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := shell.Parse(src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
