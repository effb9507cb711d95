package server

import (
	"strings"
	"testing"
)

// With BULWARK_SECRETS_IN_SANDBOX=on (Config.MaskDownloads), sandboxed code
// may hold secret values, so a file it wrote is masked on download like
// every other output; without it, files come back byte for byte.
func TestDownloadsMasked(t *testing.T) {
	t.Parallel()
	const value = "dl-secret-value-7c1e9a"
	for _, mask := range []bool{true, false} {
		te := newTaskEnv(t, func(c *Config) { c.MaskDownloads = mask })
		if w := te.do(req{method: "PUT", path: "/api/v1/secrets/TOKEN", key: te.key, body: `{"value":"` + value + `"}`}); w.Code != 204 {
			t.Fatalf("PUT secret = %d %s", w.Code, w.Body)
		}
		v := te.createTask(te.key, "hang")
		body := "token=" + value + "\n"
		if w := te.do(req{method: "PUT", path: "/api/v1/tasks/" + v.ID + "/files/leak.txt", body: body, key: te.key,
			header: map[string]string{"Content-Type": "application/octet-stream"}}); w.Code != 201 {
			t.Fatalf("PUT file = %d %s", w.Code, w.Body)
		}
		w := te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/files/leak.txt", key: te.key})
		te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/cancel", key: te.key})
		if got := w.Body.String(); w.Code != 200 || strings.Contains(got, value) == mask || !strings.HasPrefix(got, "token=") {
			t.Errorf("MaskDownloads %v: download = %d %q, want the value masked: %v", mask, w.Code, got, mask)
		}
	}
}
