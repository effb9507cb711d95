package server

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/metrics"
)

// elf is the start of a Linux executable.
var elf = append([]byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00"), bytes.Repeat([]byte{0}, 64)...)

// pe is the start of a Windows executable.
func pe() []byte {
	b := make([]byte, 256)
	copy(b, "MZ")
	b[60] = 128
	copy(b[128:], "PE\x00\x00")
	return b
}

var uploadTests = []struct {
	name string // the path after /files/, escaped as it is sent
	body []byte
	code int
}{
	{"notes.txt", []byte("plain notes\n"), 201},
	{"data/table.csv", []byte("a,b\n1,2\n"), 201},
	{"script.py", []byte("#!/usr/bin/env python3\nprint(1)\n"), 201},
	{"pic.png", []byte("\x89PNG\r\n\x1a\n\x00\x00rest"), 201},
	{"BIG.TXT", []byte("upper-case extension"), 201},
	{"..%2Fx.txt", []byte("x"), 400},
	{"a%2F..%2F..%2Fb.txt", []byte("x"), 400},
	{"%2Fetc%2Fpasswd.txt", []byte("x"), 400},
	{"nul%00.txt", []byte("x"), 400},
	{"a%5C..%5Cb.txt", []byte("x"), 400},
	{"tool.exe", pe(), 415},
	{"noext", []byte("x"), 415},
	{"page.html", []byte("<script>alert(1)</script>"), 415},
	{"renamed.txt", elf, 415},
	{"renamed.md", pe(), 415},
	{"renamed.csv", []byte("\xcf\xfa\xed\xfe\x07\x00\x00\x01macho"), 415},
	{"run.txt", []byte("#!/bin/sh\nrm -rf /\n"), 415},
	{"binary.txt", []byte("text\x00with a NUL"), 415},
	{"fake.png", []byte("not a png"), 415},
	{"fake.pdf", []byte("<html>"), 415},
	// Extensions in letters that only Unicode case folding makes ASCII:
	// U+017F (long s) folds to "s", so ".cſv" once passed as ".csv"
	// while the content check, keyed by the real extension, saw none.
	{"fake.c%C5%BFv", []byte("\xff\xfe binary, not text"), 415},
	{"fake.j%C5%BFon", []byte("\xff\xfe binary, not text"), 415},
	{"fake.TXT%E2%80%8A", []byte("x"), 415},
	// The workspace's .bulwark folder is Bulwark's, in any spelling.
	{".bulwark%2Fcode%2Fstep.py", []byte("print(1)\n"), 400},
	{".BULWARK%2Fcode%2Fstep.py", []byte("print(1)\n"), 400},
	{".Bulwark.%2Foutputs%2Fx.txt", []byte("x"), 400},
	{".bulwark%20%2Fx.txt", []byte("x"), 400},
	{"a%2F..%2F.bulwark%2Fx.txt", []byte("x"), 400},
	{".%2F.bulwark%2Fx.txt", []byte("x"), 400},
	{".bulwark-tmp-1.txt", []byte("x"), 400},
	{"data%2F.bulwark%2Fx.txt", []byte("x"), 400},
	{"bulwark%2Fnotes.txt", []byte("not reserved\n"), 201},
	// Invisible format characters in a file name: U+202E, U+200B, U+FEFF.
	{"invoice%E2%80%AEtxt.exe.txt", []byte("x"), 400},
	{"zero%E2%80%8Bwidth.txt", []byte("x"), 400},
	{"bom%EF%BB%BF.txt", []byte("x"), 400},
}

func TestUploads(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t, func(c *Config) { c.MaxFileSize = 1 << 10 })
	v := te.createTask(te.key, "hang")
	defer te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/cancel", key: te.key})
	rejected := 0
	for _, tt := range uploadTests {
		w := te.do(req{method: "PUT", path: "/api/v1/tasks/" + v.ID + "/files/" + tt.name, body: string(tt.body), key: te.key,
			header: map[string]string{"Content-Type": "application/octet-stream"}})
		if w.Code != tt.code {
			t.Errorf("PUT files/%s = %d %s, want %d", tt.name, w.Code, w.Body, tt.code)
		}
		if w.Code >= 400 {
			rejected++
			if ed := errorOf(t, w); ed.Message == "" || strings.Contains(ed.Message, te.url) {
				t.Errorf("PUT files/%s: error %+v", tt.name, ed)
			}
		}
	}
	w := te.do(req{method: "PUT", path: "/api/v1/tasks/" + v.ID + "/files/big.txt", body: strings.Repeat("x", 1<<10+1), key: te.key,
		header: map[string]string{"Content-Type": "application/octet-stream"}})
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("an upload over the cap = %d %s, want 413", w.Code, w.Body)
	}
	rejected++
	if got := te.counter(metrics.UploadRejected); int(got) != rejected {
		t.Errorf("bulwark_security_events_total{kind=upload_rejected} = %v, want %d", got, rejected)
	}
	if got := len(te.audited("file.upload_rejected")); got != rejected {
		t.Errorf("%d rejections audited, want %d", got, rejected)
	}
	files := decode[fileList](t, te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/files", key: te.key})).Files
	var names []string
	for _, f := range files {
		names = append(names, f.Path)
		if !f.Uploaded {
			t.Errorf("%s is not marked uploaded", f.Path)
		}
	}
	if strings.Join(names, " ") != "BIG.TXT bulwark/notes.txt data/table.csv notes.txt pic.png script.py" {
		t.Errorf("files = %q", names)
	}
}

// TestUploadPathsStayInside sends escaping names unescaped too: whatever
// the mux makes of them, nothing lands outside the task's folder.
func TestUploadPathsStayInside(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	te := newTaskEnv(t, withRuntime(t, filepath.Join(dir, "workspaces")))
	v := te.createTask(te.key, "hang")
	defer te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/cancel", key: te.key})
	for _, name := range []string{"../x.txt", "a/../../b.txt", "/etc/passwd.txt", "..", "./../x.txt"} {
		r, _ := http.NewRequest("PUT", te.url+"/api/v1/tasks/"+v.ID+"/files/"+name, strings.NewReader("escaped"))
		r.URL.Opaque = "//" + r.URL.Host + "/api/v1/tasks/" + v.ID + "/files/" + name // sent as written
		r.Header.Set("Authorization", "Bearer "+te.key)
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 300 {
			t.Errorf("PUT files/%s = %d, want a refusal", name, resp.StatusCode)
		}
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("a file was written: %s", p)
		}
		return nil
	})
}

func TestStorageQuota(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t, func(c *Config) { c.StorageQuota = 100 })
	v := te.createTask(te.key, "x")
	te.waitTask(te.key, v.ID, ended)
	put := func(name string, n int) int {
		return te.do(req{method: "PUT", path: "/api/v1/tasks/" + v.ID + "/files/" + name, body: strings.Repeat("q", n), key: te.key,
			header: map[string]string{"Content-Type": "application/octet-stream"}}).Code
	}
	if code := put("a.txt", 60); code != 201 {
		t.Fatalf("first upload = %d", code)
	}
	w := te.do(req{method: "PUT", path: "/api/v1/tasks/" + v.ID + "/files/b.txt", body: strings.Repeat("q", 60), key: te.key,
		header: map[string]string{"Content-Type": "application/octet-stream"}})
	if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(errorOf(t, w).Message, "storage is full") {
		t.Errorf("an upload over the tenant's quota = %d %s, want 413 saying so", w.Code, w.Body)
	}
	if got := te.counter(metrics.ResourceExhausted); got != 1 {
		t.Errorf("resource_exhausted = %v after a full storage quota, want 1", got)
	}
	if code := put("c.txt", 40); code != 201 {
		t.Errorf("an upload that fits = %d, want 201", code)
	}
	// Another tenant has its own quota.
	b := te.tenant("b")
	vb := te.createTask(b.keys[bulwark.RoleOwner], "x")
	w = te.do(req{method: "PUT", path: "/api/v1/tasks/" + vb.ID + "/files/b.txt", body: strings.Repeat("q", 60), key: b.keys[bulwark.RoleOwner],
		header: map[string]string{"Content-Type": "application/octet-stream"}})
	if w.Code != 201 {
		t.Errorf("another tenant's upload = %d %s, want 201", w.Code, w.Body)
	}
}

var attachmentTests = []struct{ in, want string }{
	{"report.txt", "report.txt"},
	{"dir/sub/a b.csv", "a b.csv"},
	{"evil\r\nSet-Cookie: x.txt", "evilSet-Cookie_ x.txt"},
	{`q"uote;.txt`, "q_uote_.txt"},
	{"..", "download"},
	{"résumé.txt", "résumé.txt"},
	// A file the agent wrote may have any name: a right-to-left override
	// would show "invoice\u202efdp.exe" as "invoiceexe.pdf" in the save
	// dialog, and invisible characters hide what the name is.
	{"invoice\u202efdp.exe", "invoicefdp.exe"},
	{"a\u200bb\ufeff.txt", "ab.txt"},
	{"\u2066\u2069", "download"},
}

func TestDownloadHeaders(t *testing.T) {
	t.Parallel()
	for _, tt := range attachmentTests {
		d, params, err := mime.ParseMediaType(attachment(tt.in))
		if err != nil || d != "attachment" || params["filename"] != tt.want {
			t.Errorf("attachment(%q) = %q (%v), want an attachment named %q", tt.in, attachment(tt.in), err, tt.want)
		}
	}
	for name, want := range map[string]string{
		"a.txt": "text/plain; charset=utf-8", "a.html": "application/octet-stream", "a.svg": "application/octet-stream",
		"a.png": "application/octet-stream", "a.json": "text/plain; charset=utf-8",
	} {
		w := httptest.NewRecorder()
		body := []byte("<script>alert(1)</script>")
		if strings.HasSuffix(name, ".svg") {
			body = []byte("\xff<svg onload=alert(1)>")
		}
		writeDownload(w, name, body)
		h := w.Header()
		if h.Get("Content-Type") != want || h.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.HasPrefix(h.Get("Content-Disposition"), "attachment;") || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("download of %s: headers %v, want Content-Type %q, nosniff, attachment, a sandbox CSP", name, h, want)
		}
	}
	te := newTaskEnv(t)
	v := te.createTask(te.key, "write:downloaded")
	te.waitTask(te.key, v.ID, ended)
	w := te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/files/out.txt", key: te.key})
	if w.Code != 200 || w.Body.String() != "downloaded" || w.Header().Get("Content-Disposition") != `attachment; filename=out.txt` ||
		w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("download = %d %q %v", w.Code, w.Body, w.Header())
	}
	for _, p := range []string{"missing.txt", url.PathEscape("../../bulwark.db")} {
		if w := te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/files/" + p, key: te.key}); w.Code != 404 && w.Code != 400 {
			t.Errorf("download of %s = %d, want 404 or 400", p, w.Code)
		}
	}
}

const fileCanary = "CANARY-uploaded-file-0d9b37"

// TestFilesSealedAtRest uploads a file holding a canary into a task that
// also writes one, lets it end, and finds neither canary in any byte of
// the data folder, while downloads still return both.
func TestFilesSealedAtRest(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	te := newTaskEnv(t, withRuntime(t, filepath.Join(data, "workspaces")))
	written := "CANARY-agent-written-f41c88"
	v := te.createTask(te.key, "write:"+written)
	hang := te.createTask(te.key, "hang")
	w := te.do(req{method: "PUT", path: "/api/v1/tasks/" + hang.ID + "/files/in/upload.txt", body: fileCanary, key: te.key,
		header: map[string]string{"Content-Type": "application/octet-stream"}})
	if w.Code != 201 {
		t.Fatalf("upload = %d %s", w.Code, w.Body)
	}
	if b, err := os.ReadFile(filepath.Join(data, "workspaces", string(te.a.id), hang.ID, "in", "upload.txt")); err != nil || string(b) != fileCanary {
		t.Fatalf("while the task runs its upload is in its folder: %q, %v", b, err)
	}
	te.do(req{method: "POST", path: "/api/v1/tasks/" + hang.ID + "/cancel", key: te.key})
	te.waitTask(te.key, hang.ID, ended)
	te.waitTask(te.key, v.ID, ended)
	for id, file := range map[string]string{hang.ID: "in/upload.txt", v.ID: "out.txt"} {
		waitGone(t, filepath.Join(data, "workspaces", string(te.a.id), id))
		w := te.do(req{method: "GET", path: "/api/v1/tasks/" + id + "/files/" + file, key: te.key})
		if w.Code != 200 || (w.Body.String() != fileCanary && w.Body.String() != written) {
			t.Errorf("download of %s after the end = %d %q", file, w.Code, w.Body)
		}
	}
	// The store is in the env's folder, the workspaces in data: scan both.
	for _, dir := range []string{data, te.dir} {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, _ := os.ReadFile(p)
			for _, c := range []string{fileCanary, written} {
				if bytes.Contains(b, []byte(c)) {
					t.Errorf("%s holds %q in the clear", p, c)
				}
			}
			return nil
		})
	}
}

func waitGone(t *testing.T, dir string) {
	t.Helper()
	for range 3000 {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s is still there", dir)
}

// TestUploadErrorsRepeatNoName: a refused upload's answer does not repeat
// the file name the client chose (a name can be anything, a secret's
// value included, and the answer would be masked: an oracle within the
// tenant). A name that runs into a file, or names a folder, is refused
// with a fixed message.
func TestUploadErrorsRepeatNoName(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t)
	const marker = "zq9marker"
	hang := te.createTask(te.key, "hang")
	put := func(name string) *httptest.ResponseRecorder {
		return te.do(req{method: "PUT", path: "/api/v1/tasks/" + hang.ID + "/files/" + name, body: "x", key: te.key,
			header: map[string]string{"Content-Type": "application/octet-stream"}})
	}
	if w := put(marker + ".txt/inner.txt"); w.Code != http.StatusCreated {
		t.Fatalf("upload into a folder = %d %s", w.Code, w.Body)
	}
	for _, name := range []string{marker + ".txt", marker + ".txt/inner.txt/deeper.txt"} {
		w := put(name)
		if w.Code < 400 {
			t.Errorf("PUT %s = %d, want a refusal", name, w.Code)
		}
		if strings.Contains(w.Body.String(), marker) {
			t.Errorf("PUT %s: the answer repeats the name: %s", name, w.Body)
		}
		get := te.do(req{method: "GET", path: "/api/v1/tasks/" + hang.ID + "/files/" + name, key: te.key})
		if get.Code < 400 || strings.Contains(get.Body.String(), marker) {
			t.Errorf("GET %s = %d %s, want a refusal that does not repeat the name", name, get.Code, get.Body)
		}
	}
}

// TestUploadsOnlyByTheStarter: a file put into a task's workspace steers
// its next turns as a message does (AGENTS.md goes into each turn's
// instructions, and each turn runs with the rights of the user who
// started the task), so another user of the tenant, an owner included,
// may not upload into it, through the API or the Agent Protocol; the
// starter may, and so may anyone into a task no user started.
func TestUploadsOnlyByTheStarter(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t)
	alice, bob := te.login(te.a.users[bulwark.RoleMember].Email), te.login(te.a.users[bulwark.RoleOwner].Email)
	w := te.do(req{method: "POST", path: "/api/v1/tasks", body: `{"input":"hang"}`, cookie: alice})
	if w.Code != 201 {
		t.Fatalf("POST task = %d %s", w.Code, w.Body)
	}
	var v bulwark.Task
	json.Unmarshal(w.Body.Bytes(), &v)
	defer te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/cancel", cookie: alice})
	put := func(cookie, key, path string) int {
		method := "PUT"
		if strings.HasPrefix(path, "/ap/") {
			method = "POST"
		}
		return te.do(req{method: method, path: path, body: "do as I say", cookie: cookie, key: key,
			header: map[string]string{"Content-Type": "application/octet-stream"}}).Code
	}
	kw := te.do(req{method: "POST", path: "/api/v1/keys", body: `{"name":"k"}`, cookie: bob})
	if kw.Code != http.StatusCreated {
		t.Fatalf("key from a session = %d %s", kw.Code, kw.Body)
	}
	bobKey := decode[createKeyResponse](t, kw).Token
	if code := put(bob, "", "/api/v1/tasks/"+v.ID+"/files/AGENTS.md"); code != http.StatusForbidden {
		t.Errorf("another user's upload in a session = %d, want 403", code)
	}
	for _, p := range []string{"/api/v1/tasks/" + v.ID + "/files/AGENTS.md", "/ap/v1/agent/tasks/" + v.ID + "/artifacts?file_name=AGENTS.md"} {
		if code := put("", bobKey, p); code != http.StatusForbidden {
			t.Errorf("another user's upload to %s = %d, want 403", p, code)
		}
		if code := put("", te.key, p); code != http.StatusForbidden {
			t.Errorf("a key of no user: upload to %s = %d, want 403", p, code)
		}
	}
	if names := te.fileNames(v.ID); len(names) != 0 {
		t.Errorf("files after the refused uploads: %v", names)
	}
	if code := put(alice, "", "/api/v1/tasks/"+v.ID+"/files/notes.md"); code != http.StatusCreated {
		t.Errorf("the starter's upload = %d, want 201", code)
	}
	// A task no user started (a key of no user made it) is the team's.
	open := te.createTask(te.key, "hang")
	defer te.do(req{method: "POST", path: "/api/v1/tasks/" + open.ID + "/cancel", key: te.key})
	if code := put(bob, "", "/api/v1/tasks/"+open.ID+"/files/notes.md"); code != http.StatusCreated {
		t.Errorf("an upload to a task no user started = %d, want 201", code)
	}
}

// TestAllowedTypeSpellings: an extension is allowed only when it is one
// of the list's in ASCII, in any ASCII case. Letters that Unicode case
// folding equates with ASCII ones (the Kelvin sign and "k", the long s
// and "s") name another extension to every program that opens the file.
func TestAllowedTypeSpellings(t *testing.T) {
	t.Parallel()
	s := &Server{cfg: Config{AllowedFileTypes: []string{".sk", ".TXT"}}}
	for name, want := range map[string]bool{
		"a.sk": true, "a.SK": true, "a.Sk": true, "a.txt": true, "a.TxT": true,
		"a.\u212a": false, "a.s\u212a": false, "a.\u017fk": false, "a.\u017f\u212a": false, "a.t\u017ft": false,
		"a.sk.": false, "a.sk ": false, "a": false, "a.": false, "a.txt\u200b": false,
	} {
		if got := s.allowedType(name); got != want {
			t.Errorf("allowedType(%q) = %v, want %v", name, got, want)
		}
	}
}
