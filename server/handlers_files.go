package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/internal/bytesize"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/metrics"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/workspace"
)

// The files of a task: GET /api/v1/tasks/{id}/files lists them, GET and
// PUT .../files/{path...} download and upload one. While a task is queued
// or running its files are in its workspace folder, in the clear (the
// agent's tools and the sandbox work on them); once its run stops they
// are sealed into the store with the tenant's data key and the folder is
// removed (see runner/files.go). Downloads read from wherever the files
// are.

type fileList struct {
	Files []fileView `json:"files"`
}

// fileView is a file as a listing shows it: without its size and hash
// when they are not to be shown (see taskFiles).
type fileView struct {
	bulwark.Artifact
	Size   *int64 `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	files, sized, err := s.taskFiles(r.Context(), r, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := fileList{Files: make([]fileView, 0, len(files))}
	for _, f := range files {
		v := fileView{Artifact: f, SHA256: f.SHA256}
		if sized {
			v.Size = &f.Size
		}
		out.Files = append(out.Files, v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// taskFiles lists the files of task id for a listing answering r for p:
// the file list, the Agent Protocol's artifacts and the MCP files
// resource. sized is false when downloads are masked
// (Config.MaskDownloads): a file's size and hash are of the file as
// stored, so its size less the length of its masked download would give
// the length of a masked secret, and its hash would let a guess at one
// be checked offline. Then every file is listed without either (SHA256
// ""; Size to be left out), whether or not it holds a secret: which ones
// do would tell as much. A download's own length is that of what it
// sends.
//
// In that mode sandboxed code holds secret values and names files too, so
// a path is masked with the tenant's secrets as a download is (charged as
// a masked answer); its ID, a hash of the path, is then that of the
// masked path, which no guess can be checked against. Such a file is not
// reached by the name shown.
func (s *Server) taskFiles(ctx context.Context, r *http.Request, p Principal, id string) (files []bulwark.Artifact, sized bool, err error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, false, err
	}
	if files, err = rt.Files(ctx, p.Tenant, id); err != nil {
		return nil, false, err
	}
	if !s.cfg.MaskDownloads {
		return files, true, nil
	}
	red, err := s.red.For(ctx, p.Tenant)
	if err != nil {
		return nil, false, err
	}
	masked := false
	for i := range files {
		var m bool
		files[i], m = shownFile(red, id, files[i])
		files[i].Size, files[i].SHA256 = 0, ""
		masked = masked || m
	}
	if masked {
		if err := s.chargeMasked(r, p, "files"); err != nil {
			return nil, false, err
		}
	}
	return files, false, nil
}

// shownFile is file f of task id as a listing shows it when downloads are
// masked: its path masked with red and, when that changed it, with the ID
// of the masked path (an ID is a hash of the path, against which a guess
// could be checked). masked reports whether it changed.
func shownFile(red *secret.Redactor, id string, f bulwark.Artifact) (_ bulwark.Artifact, masked bool) {
	p := red.String(f.Path)
	if p == f.Path {
		return f, false
	}
	f.Path, f.ID = p, bulwark.ArtifactID(id, p)
	return f, true
}

// errNoFile answers a read of a file that is not there, in words that do
// not repeat its name (the workspace's would): a name can hold a guess at
// a secret's value, and its masked echo would tell the guess was right.
func errNoFile(op string, err error) error {
	return bulwark.E(bulwark.NotFound, op, "there is no such task, or it has no file of this name", err)
}

// readTaskFile reads file name of task id for a download (the file API,
// MCP): as the workspace reads it, but with downloads masked a name that
// holds one of the tenant's secret values is answered as one that is not
// there (listings show it masked, see taskFiles): else a download by a
// guessed name would tell a right guess by its 200. Errors do not repeat
// the name.
func (s *Server) readTaskFile(ctx context.Context, tenant bulwark.TenantID, id, name, op string) (bulwark.Artifact, []byte, error) {
	rt, err := s.runtime()
	if err != nil {
		return bulwark.Artifact{}, nil, err
	}
	if clean, err := workspace.Clean(name); err == nil {
		name = clean // checked and read in one form: "a//b" is "a/b"
	}
	if s.cfg.MaskDownloads {
		red, err := s.red.For(ctx, tenant)
		if err != nil {
			return bulwark.Artifact{}, nil, err
		}
		if red.String(name) != name {
			return bulwark.Artifact{}, nil, errNoFile(op, nil)
		}
	}
	a, data, err := rt.ReadFile(ctx, tenant, id, name)
	switch k := bulwark.ErrorKind(err); {
	case err == nil:
		return a, data, nil
	case k == bulwark.Invalid || k == bulwark.PermissionDenied:
		// The workspace's message repeats the path; this one does not.
		return a, nil, bulwark.E(k, op, "no file can be read under this name: it names a folder, a part of its path is a file, or it leads outside the workspace", err)
	case k == bulwark.NotFound:
		return a, nil, errNoFile(op, err)
	}
	return a, nil, err
}

func (s *Server) downloadFile(w http.ResponseWriter, r *http.Request) error {
	a, data, err := s.readTaskFile(r.Context(), TenantFrom(r.Context()), r.PathValue("id"), r.PathValue("path"), "server.downloadFile")
	if err != nil {
		return err
	}
	if data, err = s.maskDownload(r, data); err != nil {
		return err
	}
	writeDownload(w, a.Path, data)
	return nil
}

// maskDownload masks secrets out of a file about to be downloaded, when
// sandboxed code may have held their values (Config.MaskDownloads), with
// the secrets of the caller's tenant. When they cannot be read, nothing is
// sent: fail closed. A file that had to be masked is charged to the
// caller (chargeMasked): written by the caller, it would confirm a guess.
func (s *Server) maskDownload(r *http.Request, data []byte) ([]byte, error) {
	if !s.cfg.MaskDownloads {
		return data, nil
	}
	p, _ := PrincipalFrom(r.Context())
	red, err := s.red.For(r.Context(), p.Tenant)
	if err != nil {
		return nil, err
	}
	out := red.Bytes(data)
	if !bytes.Equal(out, data) {
		if err := s.chargeMasked(r, p, "download"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// writeDownload sends data as an attachment: never rendered by the
// browser, whatever it holds. Text files go as text/plain, everything
// else (markup included) as application/octet-stream.
func writeDownload(w http.ResponseWriter, name string, data []byte) {
	h := w.Header()
	ctype := "application/octet-stream"
	if ext := fileExt(name); textTypes.Get()[ext] && !markupTypes.Get()[ext] && utf8.Valid(data) {
		ctype = "text/plain; charset=utf-8"
	}
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", attachment(name))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

// attachment is the Content-Disposition of a download of name: its base
// name without control or invisible format characters (a right-to-left
// override would show "invoice\u202efdp.exe" as a PDF), quotes or
// separators, RFC 6266 encoded.
func attachment(name string) string {
	base := strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f || bulwark.IsInvisibleFormat(r): // C1 controls too
			return -1
		case strings.ContainsRune(`"\/:*?<>|;`, r):
			return '_'
		}
		return r
	}, path.Base(name))
	base = strings.TrimLeft(strings.TrimSpace(base), ".")
	if base == "" {
		base = "download"
	}
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": base}); v != "" {
		return v
	}
	return `attachment; filename="download"`
}

// markupTypes are text types a browser would render as documents.
var markupTypes = lazy.Value[map[string]bool]{New: func() map[string]bool {
	return map[string]bool{".html": true, ".htm": true, ".svg": true, ".xml": true, ".xhtml": true}
}}

// maxFileSize is the upload cap.
func (s *Server) maxFileSize() int64 {
	if s.cfg.MaxFileSize > 0 {
		return s.cfg.MaxFileSize
	}
	return DefaultMaxFileSize
}

// maxUploadBody is the body cap of upload routes: the file and room for
// a multipart envelope.
func (s *Server) maxUploadBody() int64 { return s.maxFileSize() + 64<<10 }

func (s *Server) storageQuota() int64 {
	if s.cfg.StorageQuota > 0 {
		return s.cfg.StorageQuota
	}
	return DefaultStorageQuota
}

// uploadFile answers PUT /api/v1/tasks/{id}/files/{path...}: the body is
// the file, as its raw bytes with any Content-Type (application/
// octet-stream, text/plain, image/png, or the form type curl's
// --data-binary sends), or as multipart/form-data with one file part. The
// path names the file either way. It answers 201 with the file's
// description.
func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request) error {
	tooLarge := func() error {
		return s.rejectUpload(w, r, r.PathValue("id"), "size", http.StatusRequestEntityTooLarge,
			fmt.Sprintf("the file is too large: uploads may be at most %s", bytesize.Text(s.maxFileSize())))
	}
	if r.ContentLength > s.maxUploadBody() {
		return tooLarge()
	}
	var data []byte
	var err error
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		data, err = s.readFilePart(r)
	} else {
		data, err = io.ReadAll(io.LimitReader(r.Body, s.maxFileSize()+1))
		if err != nil {
			err = bulwark.E(bulwark.Invalid, "server.uploadFile", "the upload was cut off", err)
		}
	}
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return tooLarge()
		}
		return err
	}
	a, err := s.acceptUpload(w, r, r.PathValue("id"), r.PathValue("path"), data)
	if err != nil || a == nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a)
	return nil
}

// readFilePart reads the one file part of a multipart/form-data upload
// (a part with a file name, or named "file"); other parts are skipped. At
// most one byte past the size cap is read, so acceptUpload refuses a file
// over it.
func (s *Server) readFilePart(r *http.Request) ([]byte, error) {
	const op = "server.uploadFile"
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, bulwark.E(bulwark.Invalid, op, "the multipart body cannot be read", err)
	}
	var data []byte
	found := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, bulwark.E(bulwark.Invalid, op, "the multipart body cannot be read", err)
		}
		if part.FileName() == "" && part.FormName() != "file" {
			if _, err := io.Copy(io.Discard, part); err != nil {
				return nil, bulwark.E(bulwark.Invalid, op, "the multipart body cannot be read", err)
			}
			continue
		}
		if found {
			return nil, bulwark.Errorf(bulwark.Invalid, op, "send one file per request")
		}
		found = true
		if data, err = io.ReadAll(io.LimitReader(part, s.maxFileSize()+1)); err != nil {
			return nil, bulwark.E(bulwark.Invalid, op, "the multipart body cannot be read", err)
		}
	}
	if !found {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "the multipart body holds no file: send one part with a file name, or named \"file\"")
	}
	return data, nil
}

// acceptUpload checks an upload of data as file name of task id, and
// stores it: the task must be the caller's tenant's, and started by the
// caller's user or by none (403); the name valid and confined
// (400), its type allowed and its content of that type (415), its size
// under the cap and the tenant's storage under its quota (413). A
// rejection is counted, audited and written to w; then it returns nil
// and nil.
func (s *Server) acceptUpload(w http.ResponseWriter, r *http.Request, id, name string, data []byte) (*bulwark.Artifact, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, err
	}
	tenant := TenantFrom(r.Context())
	// A file put into a task's workspace steers its next steps as a
	// message does (its AGENTS.md goes into the instructions of each
	// turn, which run with the rights of the user who started the task):
	// only that user may upload there (mayInstruct).
	p, _ := PrincipalFrom(r.Context())
	if err := s.mayInstruct(r.Context(), p, id); err != nil {
		if bulwark.ErrorKind(err) == bulwark.PermissionDenied {
			return nil, s.rejectUpload(w, r, id, "owner", http.StatusForbidden,
				"only the person who started this task can put files into it: it runs with their rights. Start a task of your own, or ask them")
		}
		return nil, err
	}
	clean, err := workspace.Clean(name)
	if err != nil || clean == "." || bulwark.HasInvisibleFormat(clean) {
		return nil, s.rejectUpload(w, r, id, "name", http.StatusBadRequest, "the file name is not valid: give a relative path inside the task's workspace, such as data/input.csv")
	}
	if reservedPath(clean) {
		return nil, s.rejectUpload(w, r, id, "name", http.StatusBadRequest, "the .bulwark folder of a workspace is Bulwark's own: upload somewhere else, such as data/input.csv")
	}
	if !s.allowedType(clean) {
		return nil, s.rejectUpload(w, r, id, "type", http.StatusUnsupportedMediaType,
			"files of this type are not accepted here; allowed are "+strings.Join(s.fileTypes(), ", "))
	}
	if int64(len(data)) > s.maxFileSize() {
		return nil, s.rejectUpload(w, r, id, "size", http.StatusRequestEntityTooLarge,
			fmt.Sprintf("the file is too large: uploads may be at most %s", bytesize.Text(s.maxFileSize())))
	}
	if why := checkContent(clean, data); why != "" {
		return nil, s.rejectUpload(w, r, id, "content", http.StatusUnsupportedMediaType, "the file is refused: "+why)
	}
	// A secret's value in a workspace is in reach of the task: its code
	// reads the file, and its file tools answer questions about it
	// (search_files' matches, list_files' sizes) that masking their
	// output does not hide. Downloads show it to every member unless
	// masked. Tasks use a secret by its placeholder; a file holding a
	// value is refused, as a skill is, and the refusal, which tells that
	// a guess was right, is charged as a masked answer.
	red, err := s.secretValues(r, tenant)
	if err != nil {
		return nil, err
	}
	if red.String(clean) != clean || !bytes.Equal(red.Bytes(data), data) {
		if err := s.chargeMasked(r, p, "upload"); err != nil {
			return nil, err
		}
		return nil, s.rejectUpload(w, r, id, "secret", http.StatusBadRequest,
			"the file holds the value of one of your tenant's secrets, which the task and its code could read: leave the value out; a task uses a secret by writing {{secret:NAME}}")
	}
	unlock, err := s.lock(r, uploadsLock(tenant)) // the quota is checked and charged under it, on every node
	if err != nil {
		return nil, err
	}
	defer unlock()
	used, err := rt.StorageUsed(r.Context(), tenant)
	if err != nil {
		return nil, err
	}
	if quota := s.storageQuota(); used+int64(len(data)) > quota {
		s.sec.IncTenant(metrics.ResourceExhausted, string(tenant))
		// With downloads masked, the bytes used are the files' sizes as
		// stored, which no listing shows (see taskFiles): their sum,
		// read before and after a task writes a file, would be that
		// file's size, and less its masked download the length of a
		// secret. The refusal then says only that storage is full.
		msg := fmt.Sprintf("your tenant's file storage is full: %s of %s used; delete tasks' files or ask the operator for more", bytesize.Text(used), bytesize.Text(quota))
		if s.cfg.MaskDownloads {
			msg = fmt.Sprintf("your tenant's file storage is full (it holds at most %s); delete tasks' files or ask the operator for more", bytesize.Text(quota))
		}
		return nil, s.rejectUpload(w, r, id, "quota", http.StatusRequestEntityTooLarge, msg)
	}
	a, err := rt.PutFile(r.Context(), tenant, id, clean, data)
	if err != nil {
		if k := bulwark.ErrorKind(err); k == bulwark.Invalid || k == bulwark.PermissionDenied {
			// The workspace's message repeats the path: the client is told
			// what went wrong in words of its own (see jsonError).
			return nil, s.rejectUpload(w, r, id, "name", statusFor(err),
				"the file cannot be stored under this name: a part of its path is a file, it names a folder, or it leads outside the workspace")
		}
		return nil, err
	}
	if err := s.audit(r, audit.Record{Action: "file.upload", Target: id,
		Details: map[string]string{"file": a.ID, "bytes": strconv.Itoa(len(data))}}); err != nil {
		return nil, err
	}
	return &a, nil
}

// rejectUpload counts, audits and answers a refused upload with status.
// The audit record names the task and the reason, not the file's name.
func (s *Server) rejectUpload(w http.ResponseWriter, r *http.Request, id, reason string, status int, msg string) error {
	s.sec.Inc(metrics.UploadRejected)
	s.audit(r, audit.Record{Action: "file.upload_rejected", Target: id, Outcome: audit.OutcomeDenied,
		Details: map[string]string{"reason": reason}})
	kind := bulwark.Invalid
	switch status {
	case http.StatusRequestEntityTooLarge:
		kind = bulwark.QuotaExceeded
	case http.StatusForbidden:
		kind = bulwark.PermissionDenied
	}
	s.writeError(w, r, bulwark.Errorf(kind, "server.upload", "%s", msg), status)
	return nil
}

func (s *Server) fileTypes() []string {
	if s.cfg.AllowedFileTypes != nil {
		return s.cfg.AllowedFileTypes
	}
	return DefaultFileTypes
}

// reservedPath reports whether clean, a path workspace.Clean returned,
// reaches into the workspace's .bulwark folder (the agent's saved outputs
// and scripts, the workspace's temporary files): a segment that starts
// with ".bulwark" in any case, with trailing dots or spaces (which some
// file systems drop) ignored. An upload there could plant a script the
// agent then runs as its own.
func reservedPath(clean string) bool {
	for seg := range strings.SplitSeq(clean, "/") {
		seg = strings.TrimRight(seg, ". ")
		if strings.HasPrefix(strings.ToLower(strings.ToUpper(seg)), ".bulwark") {
			return true
		}
	}
	return false
}
