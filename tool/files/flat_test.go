package files

import (
	"encoding/json"
	"testing"
)

// FuzzFlatStrings: what flatStrings takes, json.Unmarshal into a struct
// of the same fields reads to the same values.
func FuzzFlatStrings(f *testing.F) {
	for _, s := range []string{
		`{"path":"step-3.txt","content":"xxxx"}`, ` { "path" : "b" } `, `{}`, ` {} `, `{"path":"x","path":"y"}`,
		`{"PATH":"x"}`, `{"Path":"x","path":"y"}`, `{"paths":"x"}`, `{"other":"x","path":"y"}`, `{"ſ":"x"}`,
		`{"path":"é"}`, "{\"path\":\"\xff\"}", `{"path":1}`, `{"path":"x",}`, `{"path":"x"}x`, `{"path":"x"} {}`,
		`{"path":"x"`, `["a"]`, `"a"`, ``, `{"path" "x"}`, `{"":""}`, "{\"path\":\"\t\"}", `{"content":null}`,
		`{"content":"a","path":"b","x":"1","y":"2","z":"3","w":"4","v":"5","u":"6","t":"7"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v [2]string
		if !flatStrings(data, v[:], "path", "content") {
			return
		}
		var want struct {
			Path    string `json:"path"`
			Content string `json:"content"`
		}
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("flatStrings(%q) took what json.Unmarshal refuses: %v", data, err)
		}
		if v[0] != want.Path || v[1] != want.Content {
			t.Fatalf("flatStrings(%q) = %q, %q; json.Unmarshal %q, %q", data, v[0], v[1], want.Path, want.Content)
		}
	})
}
