package sse

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

var readCases = []struct {
	in   string
	want []string // event:data
}{
	{"data: a\n\ndata: b\n\n", []string{":a", ":b"}},
	{"data:no space\n\n", []string{":no space"}},
	{"event: ping\ndata: {}\n\n", []string{"ping:{}"}},
	{": keep-alive\n\ndata: x\n\n", []string{":x"}},
	{": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\ndata: [DONE]\n\n", []string{":[DONE]"}},
	{"data: a\ndata: b\n\n", []string{":a\nb"}},
	{"data: a\r\n\r\ndata: b\r\rdata: c\n\n", []string{":a", ":b", ":c"}},
	{"data: unterminated", []string{":unterminated"}},
	{"id: 7\nretry: 100\nunknown: x\ndata: y\n\n", []string{":y"}},
	{"\n\n\n", nil},
	{"event: message_stop\n\n", []string{"message_stop:"}},
	{"data\n\n", []string{":"}},
}

func TestReader(t *testing.T) {
	// Each Reader is closed after use, so the next one is mostly the same
	// Reader again: nothing of a stream may show in the next.
	for _, tc := range readCases {
		r := NewReader(strings.NewReader(tc.in))
		testRead(t, r, tc.in, tc.want)
		r.Close()
		// A byte at a time: lines and their "\r\n" ends come in pieces.
		r = NewReader(iotest.OneByteReader(strings.NewReader(tc.in)))
		testRead(t, r, tc.in, tc.want)
		r.Close()
		// Cut off mid-line, with a "\r" pending: the next stream starts clean.
		r = NewReader(strings.NewReader(tc.in + "data: left\r"))
		r.Next()
		r.Close()
	}
}

func testRead(t *testing.T, r *Reader, in string, want []string) {
	t.Helper()
	{
		var got []string
		for {
			ev, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next(%q): %v", in, err)
			}
			got = append(got, ev.Event+":"+string(ev.Data))
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("events(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReaderLineTooLong(t *testing.T) {
	r := NewReader(strings.NewReader("data: " + strings.Repeat("x", MaxLine+1) + "\n\n"))
	if _, err := r.Next(); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("Next(a long line) error = %v, want ErrLineTooLong", err)
	}
}

func FuzzReader(f *testing.F) {
	for _, tc := range readCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(strings.NewReader(string(data)))
		for i := 0; ; i++ {
			ev, err := r.Next()
			if err != nil {
				return
			}
			if i > len(data) {
				t.Fatalf("more events (%d) than bytes (%d)", i, len(data))
			}
			if len(ev.Data) > len(data) {
				t.Fatalf("data longer than the input")
			}
		}
	})
}

// BenchmarkReader reads a reply of 14 chunk events like an OpenAI stream's.
func BenchmarkReader(b *testing.B) {
	var sb strings.Builder
	for range 14 {
		sb.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Writing the next file."},"finish_reason":null}]}` + "\n\n")
	}
	sb.WriteString("data: [DONE]\n\n")
	in := sb.String()
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		r := NewReader(strings.NewReader(in))
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}
