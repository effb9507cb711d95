package openai

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// recordedChunks returns the data of every event of the recorded streams
// in testdata, "[DONE]" left out.
func recordedChunks(t testing.TB) [][]byte {
	files, _ := filepath.Glob("testdata/*.sse")
	if len(files) == 0 {
		t.Fatal("no recorded streams in testdata")
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			line = bytes.TrimSpace(line)
			if d, ok := bytes.CutPrefix(line, []byte("data: ")); ok && string(d) != "[DONE]" {
				out = append(out, d)
			}
		}
	}
	return out
}

// Odd but valid chunks, and invalid ones, for the tests and as fuzz seeds.
var oddChunks = []string{
	`{"choices":[{"index":0,"delta":{"content":"a \"quoted\" word\n","role":"assistant"},"finish_reason":null}]}`,
	`{"choices":[{"index":0,"delta":{"content":null,"refusal":"no"}}]}`,
	`{"choices":[{"index":0,"delta":{"content":[{"type":"text","text":"parts"}]}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":{"a":1}}}]}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":null,"id":null,"function":null}]}}]}`,
	`{"choices":[{"index":0,"message":{"content":"whole","tool_calls":[]},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"cost":1.5e-3}}`,
	`{"choices":[],"usage":null}`,
	`{"choices":null}`,
	`{}`,
	` { "choices" : [ { "index" : 1 , "delta" : { } } ] } `,
	`{"choices":[{"index":0,"delta":{"content":"\u00e9\ud83d\ude00"}}]}`,
	`{"choices":[{"index":0,"delta":{"content":"x"},"logprobs":{"content":[{"token":"x","logprob":-0.1,"bytes":[120]}]}}]}`,
	`{"error":{"message":"boom","code":502}}`,
	`{"Choices":[{"index":1}]}`,
	`{"choices":[{"INDEX":1}]}`,
	`{"choices":[{"index":0}],"choices":[{"index":1}]}`,
	`{"choices":[{"index":0,"delta":{"content":"a"},"delta":{"refusal":"b"}}]}`,
	`{"choices":[{"index":1.0}]}`,
	`{"choices":[{"index":1e2}]}`,
	`{"choices":[{"index":"0"}]}`,
	`{"choices":[{"index":99999999999999999999}]}`,
	`{"choices":[{"index":0,"finish_reason":"st\u006fp"}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"\xff"}]}}]}`,
	`{"choices":[{"index":0,"delta":{"content":"bad \x escape"}}]}`,
	`{"choices":[{"index":0,"delta":{"content":"ctl ` + "\x01" + `"}}]}`,
	`{"choices":[{"index":0}]} trailing`,
	`{"choices":[{"index":0},]}`,
	`{"choices":[{"index":01}]}`,
	`{"usage":{"cost":1e999}}`,
	`{"usage":{"prompt_tokens":-0}}`,
	`{"choices":{"index":0}}`,
	`{"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	`{"ſ":1,"K":2}`,
	`{"choices":[{"index":0,"delta":{"content":tru}}]}`,
	`[1]`,
	`null`,
	`{not json`,
}

// checkDecodeChunk fails t when decodeChunk accepts data and reads it
// otherwise than json.Unmarshal, or accepts what json.Unmarshal refuses.
// It reports whether decodeChunk accepted.
func checkDecodeChunk(t *testing.T, data []byte) bool {
	t.Helper()
	var fast chunk
	if !decodeChunk(data, &fast) {
		return false
	}
	var slow chunk
	if err := json.Unmarshal(data, &slow); err != nil {
		t.Errorf("decodeChunk(%q) accepted what json.Unmarshal refuses: %v", data, err)
		return true
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Errorf("decodeChunk(%q) =\n%#v\nwant (json.Unmarshal)\n%#v", data, fast, slow)
	}
	// Reusing what earlier chunks left (sharedScratch, dirty from the
	// chunks checked before, and a chunk to be decoded again) reads the
	// same.
	for range 2 {
		var reused chunk
		if !decodeChunkReusing(data, &reused, &sharedScratch) {
			t.Errorf("decodeChunkReusing(%q) gave up where decodeChunk did not", data)
		} else if !reflect.DeepEqual(reused, slow) {
			t.Errorf("decodeChunkReusing(%q) =\n%#v\nwant (json.Unmarshal)\n%#v", data, reused, slow)
		}
	}
	return true
}

// sharedScratch is reused by every checkDecodeChunk, as an Accumulator
// reuses its own (tests using it do not run in parallel).
var sharedScratch chunkScratch

func TestDecodeChunkRecorded(t *testing.T) {
	for _, d := range recordedChunks(t) {
		if !checkDecodeChunk(t, d) && !bytes.Contains(d, []byte(`"error"`)) {
			t.Errorf("decodeChunk(%q) gave up on a chunk as servers send it", d)
		}
	}
}

func TestDecodeChunkOdd(t *testing.T) {
	for _, d := range oddChunks {
		checkDecodeChunk(t, []byte(d))
	}
}

// FuzzDecodeChunk holds the fast path to json.Unmarshal: whatever it
// accepts, json.Unmarshal accepts and reads the same.
func FuzzDecodeChunk(f *testing.F) {
	for _, d := range recordedChunks(f) {
		f.Add(d)
	}
	for _, d := range oddChunks {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeChunk(t, data)
	})
}

func BenchmarkDecodeChunk(b *testing.B) {
	data := []byte(`{"id":"chatcmpl-7","object":"chat.completion.chunk","created":1732000002,"model":"bench","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":\"step-3.txt\",\"con"}}]},"finish_reason":null}]}`)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c chunk
			decodeChunk(data, &c)
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c chunk
			json.Unmarshal(data, &c)
		}
	})
}
