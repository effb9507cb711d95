package guard

import (
	"os"
	"strings"
	"testing"
)

// benchText is about 1 MiB of this repository's documentation and Go
// source (prose, markdown, code), with a benign look-alike every 20 lines
// and a planted injection every 40.
func benchText() string {
	var lines []string
	for _, name := range []string{"../README.md", "../BENCHMARKS.md", "guard.go", "detect.go", "../tool/web/fetch.go", "../sandbox/egress/egress.go"} {
		data, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		lines = append(lines, strings.Split(string(data), "\n")...)
	}
	for i, t := range benign {
		if j := (i*20 + 7); j < len(lines) {
			lines[j] = t
		}
	}
	var b strings.Builder
	for i := 0; b.Len() < 1<<20; i++ {
		b.WriteString(lines[i%len(lines)])
		b.WriteByte('\n')
		if i%40 == 39 {
			b.WriteString(injections[i%len(injections)].text + "\n")
		}
	}
	return b.String()
}

func BenchmarkScore(b *testing.B) {
	text := benchText()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		Score(text)
	}
}

func BenchmarkScoreShort(b *testing.B) {
	text := "Please summarise this page about gardening tools and their prices."
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		Score(text)
	}
}

func BenchmarkMark(b *testing.B) {
	text := benchText()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		Mark("https://example.com/", text)
	}
}

// BenchmarkScorePage is a 64 KiB page, the size of a fetched web page.
func BenchmarkScorePage(b *testing.B) {
	text := benchText()[:64<<10]
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		Score(text)
	}
}

// BenchmarkScoreReadme is 64 KiB of this repository's README, an ordinary
// page without the cue words of detect.go that benchText carries.
func BenchmarkScoreReadme(b *testing.B) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		b.Skip(err)
	}
	text := strings.Repeat(string(data), 1+(64<<10)/len(data))[:64<<10]
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		Score(text)
	}
}

// BenchmarkCanaryInResult is the agent's check of a tool's result: a
// short one (write_file's), and one of the default max_output (16 KiB)
// of documentation and source, with Score of the same text beside it
// (an untrusted result is scored too).
func BenchmarkCanaryInResult(b *testing.B) {
	c := NewCanary()
	long := benchText()[:16<<10]
	for _, tt := range []struct{ name, text string }{
		{"short", `created "step-3.txt" (64 bytes, 1 lines)`},
		{"16KiB", long},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.SetBytes(int64(len(tt.text)))
			b.ReportAllocs()
			for b.Loop() {
				c.In(tt.text)
			}
		})
	}
	b.Run("16KiB-score", func(b *testing.B) {
		b.SetBytes(int64(len(long)))
		for b.Loop() {
			Score(long)
		}
	})
}

// agentTurnTexts are the texts the agent's canary check reads in a turn
// of `bulwark bench agents` (a write_file call, its arguments, their
// strings and those joined, the reply's text): CanaryCheck.In on each, as
// withholdLeaks and argsCarry call it. The tool's result is checked with
// In on its own.
var agentTurnTexts = []string{
	"write_file\ncall_12_1",
	`{"content":"` + strings.Repeat("x", 64) + `","path":"step-3.txt"}`,
	"content\npath",
	"content\n" + strings.Repeat("x", 64) + "\npath\nstep-3.txt",
	strings.Repeat("x", 64) + "\nstep-3.txt",
	"step-3.txt\n" + strings.Repeat("x", 64),
	"content",
	"path",
	strings.Repeat("x", 64),
	"step-3.txt",
	"Writing the next file.",
}

// BenchmarkCanaryAgentTurn is the canary check of one turn of `bulwark
// bench agents` (agentTurnTexts, then the tool's result).
func BenchmarkCanaryAgentTurn(b *testing.B) {
	c := NewCanary()
	b.ReportAllocs()
	for b.Loop() {
		k := c.Check()
		for _, t := range agentTurnTexts {
			if k.In(t) {
				b.Fatal("found")
			}
		}
		if c.In(`created "step-3.txt" (64 bytes, 1 line)`) {
			b.Fatal("found")
		}
	}
}
