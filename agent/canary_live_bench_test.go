package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/tool"
)

// BenchmarkLiveOutput is one command's live output: a build's log of 4
// and of 64 KiB, in the 4 KiB pieces a pipe hands over, through the
// call's live output (the canary's hold and check, the masker) to a sink
// that drops the events.
func BenchmarkLiveOutput(b *testing.B) {
	for _, size := range []int{4 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) { benchLiveOutput(b, size) })
	}
}

func benchLiveOutput(b *testing.B, size int) {
	var log strings.Builder
	for i := 0; log.Len() < size; i++ {
		fmt.Fprintf(&log, "ok  \tgithub.com/example/project/pkg%d\t0.%03ds\tcoverage: %d.%d%% of statements\n", i, i%1000, i%100, i%10)
	}
	text := log.String()[:size]
	r := streamRun()
	red := secret.NewRedactor()
	red.Add("API_TOKEN", "tok-0123456789abcdef")
	r.cfg.MaskStream = func() StreamMasker { return red.NewStream() }
	r.cfg.Sink = func(bulwark.Event) {}
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		ctx, stop := r.withLiveOutput(context.Background(), "run_shell", "call_1")
		out := tool.OutputOf(ctx)
		for i := 0; i < len(text); i += 4 << 10 {
			out(false, []byte(text[i:min(i+4<<10, len(text))]))
		}
		stop()
	}
}
