package openai

import (
	"strings"
	"testing"
)

// TestDecodeChunkSmuggled: chunks shaped to make the fast path read a tool
// call's name or arguments otherwise than json.Unmarshal does (which the
// guard and the tools then read): a field given twice at each level, keys
// that encoding/json folds onto a known one (case, long s, Kelvin sign,
// escapes), a byte-order mark, NULs and nesting past the fast path's
// depth. Each is accepted only if read exactly as json.Unmarshal reads it.
func TestDecodeChunkSmuggled(t *testing.T) {
	tc := func(fn string) string {
		return `{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":` + fn + `}]}}]}`
	}
	deep := strings.Repeat(`{"x":`, 40) + `1` + strings.Repeat(`}`, 40)
	for _, d := range []string{
		tc(`{"name":"read_file","arguments":"{}","arguments":"{\"path\":\"/etc/shadow\"}"}`),
		tc(`{"name":"read_file","name":"shell","arguments":"{}"}`),
		tc(`{"name":"read_file","Arguments":"{\"cmd\":\"rm\"}","arguments":"{}"}`),
		tc(`{"name":"read_file","arguments":"{}","ARGUMENTS":"{\"cmd\":\"rm\"}"}`),
		tc(`{"name":"read_file","argument` + "\u017f" + `":"{\"cmd\":\"rm\"}"}`),
		tc(`{"name":"read_file","\u0061rguments":"{\"cmd\":\"rm\"}"}`),
		tc(`{"nam\u0065":"shell","arguments":"{}"}`),
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"a"}}],"tool_calls":[{"index":0,"function":{"name":"shell"}}]}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"a"},"function":{"name":"shell"}}]}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"a"},"Function":{"name":"shell"}}]}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"x","tool_` + "\u212a" + `alls":[]}}]}`,
		"\xef\xbb\xbf" + tc(`{"name":"shell","arguments":"{}"}`),
		tc(`{"name":"shell","arguments":"{}"}`) + "\x00",
		tc(`{"name":"shell","arguments":"{}","extra":` + deep + `}`),
		tc(`{"name":"shell\u0000","arguments":"{}"}`),
		tc(`{"name":"sh\"ell","arguments":"{}"}`),
		tc(`{"name":"shell","arguments":"{\"a\":\"\ud800\"}"}`),
	} {
		checkDecodeChunk(t, []byte(d))
	}
}
