package guard

import "testing"

// BenchmarkCanaryCheckCall is the canary check of one write_file call of
// `bulwark bench agents` as the agent makes it (argsCarry): its content
// is 64 hex digits, which the decoders read as hex and base64, and the
// check reads the raw arguments, the strings put together (in document
// order, the values in either order) and each string, through one
// CanaryCheck; then the call's result.
func BenchmarkCanaryCheckCall(b *testing.B) {
	c := NewCanary()
	content := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	texts := []string{
		`{"content":"` + content + `","path":"step-3.txt"}`,
		"content\npath",
		"content\n" + content + "\npath\nstep-3.txt",
		content + "\nstep-3.txt",
		"step-3.txt\n" + content,
		"content", "path", content, "step-3.txt",
	}
	result := `created "step-3.txt" (64 bytes, 1 lines)`
	b.ReportAllocs()
	for b.Loop() {
		k := c.Check()
		for _, s := range texts {
			if k.In(s) {
				b.Fatal("found a canary")
			}
		}
		if c.In(result) {
			b.Fatal("found a canary")
		}
	}
}
