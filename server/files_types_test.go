package server

import (
	"bytes"
	"mime/multipart"
	"net/textproto"
	"strings"
	"testing"
)

// part is one part of a multipart body: a file part when file is set.
type part struct{ name, file, body string }

// multipartOf builds a multipart/form-data body and its Content-Type.
func multipartOf(t *testing.T, parts ...part) (string, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := `form-data; name="` + p.name + `"`
		if p.file != "" {
			cd += `; filename="` + p.file + `"`
			h.Set("Content-Type", "application/octet-stream")
		}
		h.Set("Content-Disposition", cd)
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(p.body))
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String(), mw.FormDataContentType()
}

const pngBytes = "\x89PNG\r\n\x1a\n\x00\x00rest"

// TestUploadContentTypes: PUT .../files/{path} takes the file as its raw
// bytes whatever the Content-Type (curl --data-binary sends a form type),
// or as multipart/form-data with one file part, and stores exactly the
// file's bytes under the path's name, as the API document says.
func TestUploadContentTypes(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t, func(c *Config) { c.MaxFileSize = 1 << 10 })
	v := te.createTask(te.key, "hang")
	defer te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/cancel", key: te.key})

	one, oneType := multipartOf(t, part{"upload", "ignored-name.bin", "from a multipart part\n"})
	named, namedType := multipartOf(t, part{"note", "", "a field, skipped"}, part{"file", "", "the part named file\n"})
	two, twoType := multipartOf(t, part{"a", "a.txt", "x"}, part{"b", "b.txt", "y"})
	none, noneType := multipartOf(t, part{"note", "", "no file here"})
	big, bigType := multipartOf(t, part{"file", "big.txt", strings.Repeat("x", 1<<10+1)})
	tests := []struct {
		name, ctype, body string
		code              int
		stored            string // the file's bytes after, for a 201
	}{
		{"raw.txt", "application/octet-stream", "raw bytes\n", 201, "raw bytes\n"},
		{"plain.txt", "text/plain; charset=utf-8", "plain text\n", 201, "plain text\n"},
		{"image.png", "image/png", pngBytes, 201, pngBytes},
		{"curl.csv", "application/x-www-form-urlencoded", "a=b&c,d\n", 201, "a=b&c,d\n"},
		{"untyped.md", "-", "# no content type\n", 201, "# no content type\n"},
		{"part.txt", oneType, one, 201, "from a multipart part\n"},
		{"named.txt", namedType, named, 201, "the part named file\n"},
		{"two.txt", twoType, two, 400, ""},
		{"none.txt", noneType, none, 400, ""},
		{"big.txt", bigType, big, 413, ""},
		{"cut.txt", "multipart/form-data; boundary=XYZ", "--XYZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nno end", 400, ""},
	}
	for _, tt := range tests {
		w := te.do(req{method: "PUT", path: "/api/v1/tasks/" + v.ID + "/files/" + tt.name, body: tt.body, key: te.key,
			header: map[string]string{"Content-Type": tt.ctype}})
		if w.Code != tt.code {
			t.Errorf("PUT files/%s as %s = %d %s, want %d", tt.name, tt.ctype, w.Code, w.Body, tt.code)
			continue
		}
		if tt.code != 201 {
			if msg := errorOf(t, w).Message; msg == "" {
				t.Errorf("PUT files/%s as %s: an error without a message", tt.name, tt.ctype)
			}
			continue
		}
		got := te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/files/" + tt.name, key: te.key})
		if got.Code != 200 || got.Body.String() != tt.stored {
			t.Errorf("after PUT files/%s as %s, GET = %d %q, want 200 %q", tt.name, tt.ctype, got.Code, got.Body, tt.stored)
		}
	}

	// The Agent Protocol's artifacts are multipart, as the protocol says,
	// or raw bytes named by ?file_name=.
	apOne, apType := multipartOf(t, part{"file", "ap.png", pngBytes})
	apTests := []struct {
		query, ctype, body string
		code               int
		stored             string // the path of the file after, for a 200
	}{
		{"", apType, apOne, 200, "ap.png"},
		{"?relative_path=pics", apType, apOne, 200, "pics/ap.png"},
		{"?file_name=raw.png", "image/png", pngBytes, 200, "raw.png"},
		{"?file_name=raw.txt&relative_path=notes", "text/plain", pngBytes[:4], 415, ""}, // a PNG is not text
		{"?file_name=plain.txt&relative_path=notes", "text/plain", "plain\n", 200, "notes/plain.txt"},
		{"?file_name=..%2Fout.txt", "text/plain", "x", 400, ""},
		{"", "image/png", pngBytes, 400, ""},
	}
	for _, tt := range apTests {
		w := te.do(req{method: "POST", path: "/ap/v1/agent/tasks/" + v.ID + "/artifacts" + tt.query, body: tt.body, key: te.key,
			header: map[string]string{"Content-Type": tt.ctype}})
		if w.Code != tt.code {
			t.Errorf("POST artifacts%s as %s = %d %s, want %d", tt.query, tt.ctype, w.Code, w.Body, tt.code)
			continue
		}
		if tt.code != 200 {
			if msg := errorOf(t, w).Message; msg == "" || tt.query == "" && !strings.Contains(msg, "multipart/form-data") {
				t.Errorf("POST artifacts%s as %s: error %q", tt.query, tt.ctype, msg)
			}
			continue
		}
		got := te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/files/" + tt.stored, key: te.key})
		if got.Code != 200 || got.Body.String() != tt.body && !strings.HasPrefix(tt.ctype, "multipart/") {
			t.Errorf("after POST artifacts%s, GET files/%s = %d %q, want 200 %q", tt.query, tt.stored, got.Code, got.Body, tt.body)
		}
		if strings.HasPrefix(tt.ctype, "multipart/") && got.Body.String() != pngBytes {
			t.Errorf("after POST artifacts%s, GET files/%s = %d %q, want 200 %q", tt.query, tt.stored, got.Code, got.Body, pngBytes)
		}
	}
}
