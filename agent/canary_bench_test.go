package agent

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/guard"
)

// BenchmarkHasCanary is the canary check of one write_file call of
// `bulwark bench agents`: a short path and 64 bytes of content.
func BenchmarkHasCanary(b *testing.B) {
	args, _ := json.Marshal(map[string]string{"path": "step-3.txt", "content": strings.Repeat("x", 64)})
	r := &run{}
	r.taint.canary = guard.NewCanary()
	b.ReportAllocs()
	for b.Loop() {
		if r.hasCanary(args, args) {
			b.Fatal("found a canary")
		}
	}
}
