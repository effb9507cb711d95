package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// With BULWARK_SECRETS_IN_SANDBOX=on (Config.MaskDownloads), sandboxed code
// may hold secret values, so a file it wrote is masked on download like
// every other output; without it, files come back byte for byte.
func TestDownloadsMasked(t *testing.T) {
	t.Parallel()
	const value = "dl-secret-value-7c1e9a"
	for _, mask := range []bool{true, false} {
		te := newTaskEnv(t, func(c *Config) { c.MaskDownloads = mask })
		v := te.createTask(te.key, "hang")
		body := "token=" + value + "\n"
		if w := te.do(req{method: "PUT", path: "/api/v1/tasks/" + v.ID + "/files/leak.txt", body: body, key: te.key,
			header: map[string]string{"Content-Type": "application/octet-stream"}}); w.Code != 201 {
			t.Fatalf("PUT file = %d %s", w.Code, w.Body)
		}
		// The value is set after the upload: an upload holding it is refused.
		if w := te.do(req{method: "PUT", path: "/api/v1/secrets/TOKEN", key: te.key, body: `{"value":"` + value + `"}`}); w.Code != 204 {
			t.Fatalf("PUT secret after the file = %d %s", w.Code, w.Body)
		}
		w := te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/files/leak.txt", key: te.key})
		te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/cancel", key: te.key})
		if got := w.Body.String(); w.Code != 200 || strings.Contains(got, value) == mask || !strings.HasPrefix(got, "token=") {
			t.Errorf("MaskDownloads %v: download = %d %q, want the value masked: %v", mask, w.Code, got, mask)
		}
	}
}

// TestFileListHidesTheUnmaskedHash: when downloads are masked, the file
// list must not give the SHA-256 of the file as stored: with the masked
// download in hand, it would let a viewer try values of the masked secret
// offline until the hash matches.
func TestFileListHidesTheUnmaskedHash(t *testing.T) {
	t.Parallel()
	const value = "ls-secret-value-3b8d2f"
	te := newTaskEnv(t, func(c *Config) { c.MaskDownloads = true })
	v := te.createTask(te.key, "hang")
	body := "token=" + value + "\n"
	if w := te.do(req{method: "PUT", path: "/api/v1/tasks/" + v.ID + "/files/leak.txt", body: body, key: te.key,
		header: map[string]string{"Content-Type": "application/octet-stream"}}); w.Code != 201 {
		t.Fatalf("PUT file = %d %s", w.Code, w.Body)
	}
	// The value is set after the upload: an upload holding it is refused.
	if w := te.do(req{method: "PUT", path: "/api/v1/secrets/TOKEN", key: te.key, body: `{"value":"` + value + `"}`}); w.Code != 204 {
		t.Fatalf("PUT secret after the file = %d %s", w.Code, w.Body)
	}
	// Once the run stops, its files are sealed into the store, with
	// their hashes.
	te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/cancel", key: te.key})
	te.waitTask(te.key, v.ID, ended)
	sum := sha256.Sum256([]byte(body))
	w := te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/files", key: te.key})
	if w.Code != 200 || !strings.Contains(w.Body.String(), "leak.txt") {
		t.Fatalf("GET files = %d %s", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), hex.EncodeToString(sum[:])) {
		t.Errorf("the file list gives the hash of the unmasked file: %s", w.Body)
	}
}

// TestListingsHideTheUnmaskedSize: when downloads are masked, no listing
// of a task's files (the file list, the Agent Protocol's task and
// artifacts, the MCP files resource) gives the size of a file as stored:
// less the length of its masked download, it is the length of the
// secret masked. Without masking, the sizes are there.
func TestListingsHideTheUnmaskedSize(t *testing.T) {
	t.Parallel()
	const value = "sz-secret-value-5e2a9c41"
	body := "token=" + value + "\n" // 31 bytes as stored
	stored := strconv.Itoa(len(body))
	for _, mask := range []bool{true, false} {
		te := newTaskEnv(t, func(c *Config) { c.MaskDownloads = mask })
		v := te.createTask(te.key, "hang")
		if w := te.do(req{method: "PUT", path: "/api/v1/tasks/" + v.ID + "/files/leak.txt", body: body, key: te.key,
			header: map[string]string{"Content-Type": "application/octet-stream"}}); w.Code != 201 {
			t.Fatalf("PUT file = %d %s", w.Code, w.Body)
		}
		// The value is set after the upload: an upload holding it is refused.
		if w := te.do(req{method: "PUT", path: "/api/v1/secrets/TOKEN", key: te.key, body: `{"value":"` + value + `"}`}); w.Code != 204 {
			t.Fatalf("PUT secret after the file = %d %s", w.Code, w.Body)
		}
		dl := te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/files/leak.txt", key: te.key})
		_, listings := fileListings(t, te, v.ID)
		for where, got := range listings {
			if where != "mcp files" && !strings.Contains(got, "leak.txt") {
				t.Fatalf("%s = %s, want leak.txt listed", where, got)
			}
		}
		te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/cancel", key: te.key})
		if mask && dl.Body.Len() == len(body) {
			t.Fatalf("the masked download is %d bytes, as long as the file: nothing was masked", dl.Body.Len())
		}
		for where, got := range listings {
			if has := strings.Contains(got, `"size":`+stored); has == mask {
				t.Errorf("MaskDownloads %v: %s = %s; want the size as stored (%s) shown: %v", mask, where, got, stored, !mask)
			}
			if mask && strings.Contains(got, `"size"`) {
				t.Errorf("MaskDownloads: %s = %s, want no size", where, got)
			}
		}
	}
}

// TestMaskedDownloadsBudgeted: a masked download confirms a guess written
// into the file, so it is charged as a masked answer: from as many
// addresses as it likes, one caller is refused once its budget is spent,
// and the masks are audited.
func TestMaskedDownloadsBudgeted(t *testing.T) {
	t.Parallel()
	const value = "bd-secret-value-8f3c1e"
	te := newTaskEnv(t, func(c *Config) { c.MaskDownloads = true; c.RateLimitOff = false }, highRates)
	v := te.createTask(te.key, "hang")
	defer te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/cancel", key: te.key})
	if w := te.do(req{method: "PUT", path: "/api/v1/tasks/" + v.ID + "/files/guess.txt", body: value, key: te.key,
		header: map[string]string{"Content-Type": "application/octet-stream"}}); w.Code != 201 {
		t.Fatalf("PUT file = %d %s", w.Code, w.Body)
	}
	// The value is set after the upload: an upload holding it is refused.
	if w := te.do(req{method: "PUT", path: "/api/v1/secrets/TOKEN", key: te.key, body: `{"value":"` + value + `"}`}); w.Code != 204 {
		t.Fatalf("PUT secret after the file = %d %s", w.Code, w.Body)
	}
	refused := false
	for i := range maskUserBurst + 1 {
		w := te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/files/guess.txt", key: te.key, remote: "10.9.0." + strconv.Itoa(i+1) + ":1"})
		if w.Code == 429 {
			refused = !strings.Contains(w.Body.String(), "REDACTED")
			break
		}
		if w.Code != 200 || !strings.Contains(w.Body.String(), "REDACTED") {
			t.Fatalf("download = %d %s, want it masked", w.Code, w.Body)
		}
	}
	if !refused {
		t.Errorf("%d masked downloads from as many addresses, none refused", maskUserBurst+1)
	}
	if recs := te.audited("secret.masked_answer"); len(recs) == 0 || recs[0].Details["where"] != "download" {
		t.Errorf("masked downloads audited as %+v, want secret.masked_answer where=download", recs)
	}
}

// TestMaskedQuotaHidesTheTotal: when downloads are masked, no listing
// gives a file's size as stored, so a refused upload does not give the
// tenant's bytes used either: read before and after a task writes a
// file, it would be that file's size as stored. Without masking the
// refusal says how much is used.
func TestMaskedQuotaHidesTheTotal(t *testing.T) {
	t.Parallel()
	for _, mask := range []bool{true, false} {
		te := newTaskEnv(t, func(c *Config) { c.MaskDownloads, c.StorageQuota = mask, 100 })
		v := te.createTask(te.key, "x")
		te.waitTask(te.key, v.ID, ended)
		put := func(name string, n int) *httptest.ResponseRecorder {
			return te.do(req{method: "PUT", path: "/api/v1/tasks/" + v.ID + "/files/" + name, body: strings.Repeat("q", n), key: te.key,
				header: map[string]string{"Content-Type": "application/octet-stream"}})
		}
		if w := put("a.txt", 37); w.Code != 201 {
			t.Fatalf("first upload = %d %s", w.Code, w.Body)
		}
		w := put("b.txt", 70)
		msg := errorOf(t, w).Message
		if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "storage is full") || !strings.Contains(msg, "100 bytes") {
			t.Fatalf("MaskDownloads %v: an upload over the quota = %d %s, want 413 naming the quota", mask, w.Code, w.Body)
		}
		if has := strings.Contains(msg, "37 bytes"); has == mask {
			t.Errorf("MaskDownloads %v: the refusal says %q; want the 37 bytes used in it: %v", mask, msg, !mask)
		}
	}
}

// TestUploadHoldingASecretRefused: a secret's value put into a task's
// workspace is in reach of the task (its code reads the file; search_files
// and list_files answer questions about it that masking their output does
// not hide) and, unmasked, of every member who downloads it. An upload
// whose content or name holds the value of one of the tenant's secrets, in
// any spelling the masker knows, is refused (400) and charged as a masked
// answer, with or without masked downloads; nothing is stored. Another
// tenant's value is no secret of the uploader's tenant and is taken.
func TestUploadHoldingASecretRefused(t *testing.T) {
	t.Parallel()
	const value = "up-secret/value+6d0b2e7a"
	for _, mask := range []bool{true, false} {
		te := newTaskEnv(t, func(c *Config) { c.MaskDownloads = mask })
		if w := te.do(req{method: "PUT", path: "/api/v1/secrets/TOKEN", key: te.key, body: `{"value":"` + value + `"}`}); w.Code != 204 {
			t.Fatalf("PUT secret = %d %s", w.Code, w.Body)
		}
		v := te.createTask(te.key, "hang")
		put := func(key, id, name, body string) *httptest.ResponseRecorder {
			return te.do(req{method: "PUT", path: "/api/v1/tasks/" + id + "/files/" + name, body: body, key: key,
				header: map[string]string{"Content-Type": "application/octet-stream"}})
		}
		refused := map[string]struct{ name, body string }{
			"raw":            {"a.txt", "token=" + value + "\n"},
			"base64":         {"b.txt", "token=" + base64.StdEncoding.EncodeToString([]byte(value))},
			"hex":            {"c.txt", "token=" + hex.EncodeToString([]byte(value))},
			"percent":        {"d.txt", "token=" + url.QueryEscape(value)},
			"in the name":    {"e-" + url.PathEscape(value) + ".txt", "harmless"},
			"spelled apart":  {"up-secret%2F.%2Fvalue+6d0b2e7a.txt", "harmless"},
			"inside a word":  {"f.txt", "xx" + value + "yy"},
			"at the end":     {"g.txt", "token:" + value},
			"as the content": {"h.txt", value},
		}
		for what, c := range refused {
			w := put(te.key, v.ID, c.name, c.body)
			if w.Code != http.StatusBadRequest || !strings.Contains(errorOf(t, w).Message, "{{secret:NAME}}") {
				t.Errorf("MaskDownloads %v: an upload holding the value (%s) = %d %s, want 400", mask, what, w.Code, w.Body)
			}
			if strings.Contains(w.Body.String(), value) {
				t.Errorf("the refusal repeats the value: %s", w.Body)
			}
		}
		// The Agent Protocol's artifact upload goes the same way.
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "ap.txt")
		fw.Write([]byte("token=" + value))
		mw.Close()
		if w := te.do(req{method: "POST", path: "/ap/v1/agent/tasks/" + v.ID + "/artifacts", body: body.String(), key: te.key,
			header: map[string]string{"Content-Type": mw.FormDataContentType()}}); w.Code != http.StatusBadRequest {
			t.Errorf("MaskDownloads %v: an Agent Protocol upload holding the value = %d %s, want 400", mask, w.Code, w.Body)
		}
		if w := put(te.key, v.ID, "ok.txt", "token=up-secret/value+6d0b2e7b"); w.Code != 201 {
			t.Errorf("MaskDownloads %v: an upload of a near miss = %d %s, want 201", mask, w.Code, w.Body)
		}
		w := te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/files", key: te.key})
		for _, c := range refused {
			if strings.Contains(w.Body.String(), c.name) {
				t.Errorf("MaskDownloads %v: a refused file was stored: %s", mask, w.Body)
			}
		}
		if strings.Contains(w.Body.String(), "ap.txt") {
			t.Errorf("MaskDownloads %v: the refused Agent Protocol upload was stored: %s", mask, w.Body)
		}
		if recs := te.audited("secret.masked_answer"); len(recs) == 0 || recs[0].Details["where"] != "upload" {
			t.Errorf("MaskDownloads %v: refusals audited as %+v, want secret.masked_answer where=upload", mask, recs)
		}
		// Tenant B has no such secret: the same bytes are a file to it.
		b := te.tenant("b")
		vb := te.createTask(b.keys[bulwark.RoleOwner], "hang")
		if w := put(b.keys[bulwark.RoleOwner], vb.ID, "a.txt", "token="+value); w.Code != 201 {
			t.Errorf("MaskDownloads %v: tenant B's upload of A's value = %d %s, want 201", mask, w.Code, w.Body)
		}
		te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/cancel", key: te.key})
		te.do(req{method: "POST", path: "/api/v1/tasks/" + vb.ID + "/cancel", key: b.keys[bulwark.RoleOwner]})
	}
}

// TestListingsMaskFileNames: with masked downloads, sandboxed code holds
// secret values and names files too. A file whose path holds a value is
// listed (the file list, the Agent Protocol's task and artifacts, the MCP
// files resource) with the value masked, and with the ID of the masked
// path: the ID is a hash of the path, and the real one would let a guess
// be checked offline. The listing is charged as a masked answer. Without
// masking, paths and IDs are as stored.
func TestListingsMaskFileNames(t *testing.T) {
	t.Parallel()
	const value = "nm-secret-value-2c8e4b17"
	name := "out/" + value + ".txt"
	for _, mask := range []bool{true, false} {
		te := newTaskEnv(t, func(c *Config) { c.MaskDownloads = mask })
		v := te.createTask(te.key, "hang")
		if w := te.do(req{method: "PUT", path: "/api/v1/tasks/" + v.ID + "/files/" + name, body: "x", key: te.key,
			header: map[string]string{"Content-Type": "application/octet-stream"}}); w.Code != 201 {
			t.Fatalf("PUT file = %d %s", w.Code, w.Body)
		}
		// The value is set after the upload: an upload holding it is refused.
		if w := te.do(req{method: "PUT", path: "/api/v1/secrets/TOKEN", key: te.key, body: `{"value":"` + value + `"}`}); w.Code != 204 {
			t.Fatalf("PUT secret after the file = %d %s", w.Code, w.Body)
		}
		realID := bulwark.ArtifactID(v.ID, name)
		cs, listings := fileListings(t, te, v.ID)
		if mask {
			// The name shown reaches nothing, and a download by a guessed
			// name answers the right guess as a wrong one.
			const wrong = "nm-secret-value-2c8e4b18"
			for _, n := range []string{"out/[REDACTED:TOKEN].txt", "out/" + wrong + ".txt"} {
				if w := te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/files/" + n, key: te.key}); w.Code != 404 {
					t.Errorf("GET files/%s = %d %s, want 404", n, w.Code, w.Body)
				}
			}
			right := te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/files/" + name, key: te.key})
			other := te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/files/out/" + wrong + ".txt", key: te.key})
			if got, want := strings.ReplaceAll(answer(right), value, "GUESS"), strings.ReplaceAll(answer(other), wrong, "GUESS"); got != want {
				t.Errorf("a download by the secret's name differs from one by a wrong guess:\n%s\n--- want\n%s", got, want)
			}
			// So through MCP.
			_, rerr := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "bulwark://tasks/" + v.ID + "/files/" + name})
			_, werr := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "bulwark://tasks/" + v.ID + "/files/out/" + wrong + ".txt"})
			if rerr == nil || werr == nil || strings.ReplaceAll(rerr.Error(), value, "GUESS") != strings.ReplaceAll(werr.Error(), wrong, "GUESS") {
				t.Errorf("MCP reads by the secret's name and a wrong one = %v and %v, want the same refusal", rerr, werr)
			}
			// The Agent Protocol finds an artifact by the ID listed, not
			// by the one a right guess gives.
			ap := "/ap/v1/agent/tasks/" + v.ID + "/artifacts/"
			if w := te.do(req{method: "GET", path: ap + realID, key: te.key}); w.Code != 404 {
				t.Errorf("GET the artifact by the stored name's ID = %d %s, want 404", w.Code, w.Body)
			}
			if w := te.do(req{method: "GET", path: ap + bulwark.ArtifactID(v.ID, "out/[REDACTED:TOKEN].txt"), key: te.key}); w.Code != 200 || w.Body.String() != "x" ||
				strings.Contains(w.Header().Get("Content-Disposition"), value) {
				t.Errorf("GET the artifact by its listed ID = %d %q %q, want it, under the masked name", w.Code, w.Body, w.Header().Get("Content-Disposition"))
			}
		}
		te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/cancel", key: te.key})
		for where, got := range listings {
			if has := strings.Contains(got, value); has == mask {
				t.Errorf("MaskDownloads %v: %s = %s; want the name as stored: %v", mask, where, got, !mask)
			}
			if has := strings.Contains(got, realID); has == mask && where != "mcp files" { // the resource lists no IDs
				t.Errorf("MaskDownloads %v: %s = %s; want the ID of the stored name (%s): %v", mask, where, got, realID, !mask)
			}
			if mask && !strings.Contains(got, "[REDACTED:TOKEN].txt") {
				t.Errorf("MaskDownloads: %s = %s, want the name masked", where, got)
			}
		}
		if recs := te.audited("secret.masked_answer"); mask && (len(recs) == 0 || recs[0].Details["where"] != "files") {
			t.Errorf("masked listings audited as %+v, want secret.masked_answer where=files", recs)
		}
	}
}

// TestDownloadByASecretsNameInAnySpelling: with masked downloads, a
// download by a name that holds a secret's value is refused as a missing
// file's however the path is spelled: the name is checked in the form it
// is read in ("a//b" and "./a/./b" are "a/b", which a value holding a
// slash would otherwise pass).
func TestDownloadByASecretsNameInAnySpelling(t *testing.T) {
	t.Parallel()
	const value = "sp-secret/value-91d3c6a0"
	te := newTaskEnv(t, func(c *Config) { c.MaskDownloads = true })
	v := te.createTask(te.key, "hang")
	defer te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/cancel", key: te.key})
	if w := te.do(req{method: "PUT", path: "/api/v1/tasks/" + v.ID + "/files/out/" + value + ".txt", body: "x", key: te.key,
		header: map[string]string{"Content-Type": "application/octet-stream"}}); w.Code != 201 {
		t.Fatalf("PUT file = %d %s", w.Code, w.Body)
	}
	// The value is set after the upload: an upload holding it is refused.
	if w := te.do(req{method: "PUT", path: "/api/v1/secrets/TOKEN", key: te.key, body: `{"value":"` + value + `"}`}); w.Code != 204 {
		t.Fatalf("PUT secret after the file = %d %s", w.Code, w.Body)
	}
	// (The mux sends "a//b" on to "a/b"; escaped, it reaches the handler.)
	for _, n := range []string{"out/" + value + ".txt", "out/sp-secret%2F%2Fvalue-91d3c6a0.txt", "out/sp-secret%2F.%2Fvalue-91d3c6a0.txt"} {
		w := te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/files/" + n, key: te.key})
		if w.Code != 404 || strings.Contains(w.Body.String(), "value-91d3c6a0") {
			t.Errorf("GET files/%s = %d %s, want 404 as for a missing file", n, w.Code, w.Body)
		}
	}
	cs := mcpClientAt(t, te.url, te.key, nil)
	for _, n := range []string{"out/" + value + ".txt", "out/sp-secret//value-91d3c6a0.txt", "./out/sp-secret/./value-91d3c6a0.txt", "out/x/../sp-secret/value-91d3c6a0.txt"} {
		res, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "bulwark://tasks/" + v.ID + "/files/" + n})
		if err == nil || strings.Contains(err.Error(), "value-91d3c6a0") {
			t.Errorf("MCP read of %s = %v, %v; want it refused as a missing file", n, res, err)
		}
	}
}

// fileListings returns an MCP client of te's owner and every listing of
// task id's files: the MCP resource, the task API's and the Agent
// Protocol's task and artifacts, each answered 200.
func fileListings(t *testing.T, te *taskEnv, id string) (*mcp.ClientSession, map[string]string) {
	t.Helper()
	cs := mcpClientAt(t, te.url, te.key, nil)
	res, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "bulwark://tasks/" + id + "/files"})
	if err != nil {
		t.Fatal(err)
	}
	listings := map[string]string{"mcp files": res.Contents[0].Text}
	for _, p := range []string{"/api/v1/tasks/" + id + "/files", "/ap/v1/agent/tasks/" + id, "/ap/v1/agent/tasks/" + id + "/artifacts"} {
		w := te.do(req{method: "GET", path: p, key: te.key})
		if w.Code != 200 {
			t.Fatalf("GET %s = %d %s", p, w.Code, w.Body)
		}
		listings[p] = w.Body.String()
	}
	return cs, listings
}
