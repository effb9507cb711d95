package secret

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"testing"
)

// MixedText returns about size bytes of the text an agent platform
// redacts: prose, log lines with key=value pairs, JSON, shell and Python
// code, URLs, commit hashes and base64, with one registered secret (when
// secrets is not empty) and one detectable key every 200 lines or so.
func mixedText(size int, secrets []string, seed uint64) []byte {
	rng := mrand.New(mrand.NewPCG(seed, 1))
	words := []string{"the", "agent", "reads", "file", "and", "writes", "output", "to", "workspace",
		"model", "returns", "tool", "call", "with", "arguments", "result", "error", "retry", "step",
		"configuration", "value", "request", "response", "user", "task", "finished", "running"}
	var b bytes.Buffer
	for line := 0; b.Len() < size; line++ {
		switch rng.IntN(8) {
		case 0, 1, 2:
			for i := range 8 + rng.IntN(10) {
				if i > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(words[rng.IntN(len(words))])
			}
			b.WriteString(".\n")
		case 3:
			fmt.Fprintf(&b, "time=2025-01-%02dT10:%02d:%02dZ level=INFO msg=\"tool call\" task=%08x step=%d duration=%dms status=ok\n",
				1+rng.IntN(28), rng.IntN(60), rng.IntN(60), rng.Uint32(), rng.IntN(50), rng.IntN(5000))
		case 4:
			fmt.Fprintf(&b, `{"id": "%08x-%04x", "type": "tool_result", "name": "read_file", "text": "line %d: def f(x): return x * %d", "is_error": false}`+"\n",
				rng.Uint32(), rng.Uint32()&0xffff, rng.IntN(1000), rng.IntN(100))
		case 5:
			fmt.Fprintf(&b, "commit %016x%016x%08x\nMerge: see https://example.com/repo/pull/%d?tab=files#diff\n",
				rng.Uint64(), rng.Uint64(), rng.Uint32(), rng.IntN(9999))
		case 6:
			fmt.Fprintf(&b, "    for i in range(%d):\n        total += values[i] * weight  # ratio 3:1\n", rng.IntN(100))
		case 7:
			blob := make([]byte, 48)
			for i := range blob {
				blob[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[rng.IntN(64)]
			}
			fmt.Fprintf(&b, "data: %s\n", blob)
		}
		if line%200 == 199 {
			if len(secrets) > 0 {
				fmt.Fprintf(&b, "connected with %s\n", secrets[rng.IntN(len(secrets))])
			}
			fmt.Fprintf(&b, "export GITHUB_TOKEN=%s\n", fakeGHP)
		}
	}
	return b.Bytes()
}

func benchSecrets(n int) []string {
	rng := mrand.New(mrand.NewPCG(42, 42))
	s := make([]string, n)
	for i := range s {
		s[i] = randomSecret(rng, 16+rng.IntN(48))
	}
	return s
}

func benchRedactor(secrets []string, patterns bool) *Redactor {
	r := NewRedactor()
	for i, s := range secrets {
		r.Add(fmt.Sprintf("SECRET_%d", i), s)
	}
	r.SetDetection(patterns)
	return r
}

func benchBytes(b *testing.B, r *Redactor, text []byte) {
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		r.Bytes(text)
	}
}

// BenchmarkRedactRegistered: 100 registered values (about 1,900 needles),
// no pattern detection, 4 MiB of mixed text.
func BenchmarkRedactRegistered(b *testing.B) {
	s := benchSecrets(100)
	benchBytes(b, benchRedactor(s, false), mixedText(4<<20, s, 1))
}

// BenchmarkRedactPatterns: pattern detection only.
func BenchmarkRedactPatterns(b *testing.B) {
	benchBytes(b, benchRedactor(nil, true), mixedText(4<<20, nil, 1))
}

// BenchmarkRedactAll: 100 registered values and pattern detection.
func BenchmarkRedactAll(b *testing.B) {
	s := benchSecrets(100)
	benchBytes(b, benchRedactor(s, true), mixedText(4<<20, s, 1))
}

// BenchmarkRedactWriter: the streaming writer, 32 KiB writes.
func BenchmarkRedactWriter(b *testing.B) {
	s := benchSecrets(100)
	r := benchRedactor(s, true)
	text := mixedText(4<<20, s, 1)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		w := r.Writer(io.Discard)
		for p := text; len(p) > 0; {
			n := min(len(p), 32<<10)
			w.Write(p[:n])
			p = p[n:]
		}
		w.Close()
	}
}

// BenchmarkRedactStream: model deltas of about 16 bytes through Stream.
func BenchmarkRedactStream(b *testing.B) {
	s := benchSecrets(100)
	r := benchRedactor(s, true)
	text := string(mixedText(1<<20, s, 1))
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		st := r.NewStream()
		for p := text; len(p) > 0; {
			n := min(len(p), 16)
			st.Push(p[:n])
			p = p[n:]
		}
		st.Flush()
	}
}

// BenchmarkRedactAdd: registering the 100th value (rebuilds the index).
func BenchmarkRedactAdd(b *testing.B) {
	s := benchSecrets(100)
	r := benchRedactor(s[:99], true)
	b.ReportAllocs()
	for b.Loop() {
		r.Add("LAST", s[99])
	}
}

// BenchmarkRedactWrappedBase64: 100 registered values, 4 MiB of base64 in
// lines of 76 (one block of lines, joined and scanned again).
func BenchmarkRedactWrappedBase64(b *testing.B) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	raw := make([]byte, 3<<20)
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	text := wrapLines(base64.StdEncoding.EncodeToString(raw), 76, "\n")
	benchBytes(b, benchRedactor(benchSecrets(100), false), []byte(text))
}
