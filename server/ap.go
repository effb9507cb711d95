package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/bytesize"
	"github.com/bulwark-agents/bulwark/secret"
)

// Agent Protocol v1 (https://agentprotocol.ai), at /ap/v1/agent/..., with
// the same bearer keys as the API: tasks, their steps and their
// artifacts, in the protocol's shapes. A protocol task is a Bulwark task
// (it runs on its own once created, with the tenant's default model); a
// protocol step is one model turn of it; a protocol artifact is one of its
// files. See ap_steps.go for how steps map onto turns. Errors keep the
// server's JSON error shape.

// apRoutes is the table of the Agent Protocol.
func (s *Server) apRoutes() []Route {
	const (
		viewer = bulwark.RoleViewer
		member = bulwark.RoleMember
	)
	return []Route{
		{Method: "POST", Pattern: "/ap/v1/agent/tasks", Side: API, Role: member, Scope: "tasks", MaxBody: 2 * MaxInputBytes, Handler: s.apCreateTask},
		{Method: "GET", Pattern: "/ap/v1/agent/tasks", Side: API, Role: viewer, Scope: "tasks", Handler: s.apListTasks},
		{Method: "GET", Pattern: "/ap/v1/agent/tasks/{task_id}", Side: API, Role: viewer, Scope: "tasks", Handler: s.apGetTask},
		{Method: "GET", Pattern: "/ap/v1/agent/tasks/{task_id}/steps", Side: API, Role: viewer, Scope: "tasks", Handler: s.apListSteps},
		{Method: "POST", Pattern: "/ap/v1/agent/tasks/{task_id}/steps", Side: API, Role: member, Scope: "tasks", MaxBody: 2 * MaxInputBytes, Stream: true, Handler: s.apExecuteStep},
		{Method: "GET", Pattern: "/ap/v1/agent/tasks/{task_id}/steps/{step_id}", Side: API, Role: viewer, Scope: "tasks", Handler: s.apGetStep},
		{Method: "GET", Pattern: "/ap/v1/agent/tasks/{task_id}/artifacts", Side: API, Role: viewer, Scope: "tasks", Handler: s.apListArtifacts},
		{Method: "POST", Pattern: "/ap/v1/agent/tasks/{task_id}/artifacts", Side: API, Role: member, Scope: "tasks", MaxBody: s.maxUploadBody(), Handler: s.apUploadArtifact},
		{Method: "GET", Pattern: "/ap/v1/agent/tasks/{task_id}/artifacts/{artifact_id}", Side: API, Role: viewer, Scope: "tasks", Handler: s.apDownloadArtifact},
	}
}

// apTask is the protocol's Task.
type apTask struct {
	TaskID          string          `json:"task_id"`
	Input           string          `json:"input"`
	AdditionalInput json.RawMessage `json:"additional_input"`
	Artifacts       []apArtifact    `json:"artifacts"`
	CreatedAt       time.Time       `json:"created_at"`
	Status          string          `json:"status"` // Bulwark's task status, beyond the protocol
}

// apArtifact is the protocol's Artifact: relative_path is the folder of
// the file in the task's workspace ("" at its top).
type apArtifact struct {
	ArtifactID   string    `json:"artifact_id"`
	AgentCreated bool      `json:"agent_created"`
	FileName     string    `json:"file_name"`
	RelativePath string    `json:"relative_path"`
	CreatedAt    time.Time `json:"created_at,omitzero"`
	Size         *int64    `json:"size,omitempty"` // left out when not shown (see taskFiles) or not known
}

// apPagination is the protocol's Pagination.
type apPagination struct {
	TotalItems  int `json:"total_items"`
	TotalPages  int `json:"total_pages"`
	CurrentPage int `json:"current_page"`
	PageSize    int `json:"page_size"`
}

// apTaskRequest is the protocol's TaskRequestBody. additional_input is
// accepted (a JSON object) but not kept.
type apTaskRequest struct {
	Input           *string         `json:"input"`
	AdditionalInput json.RawMessage `json:"additional_input"`
}

var emptyObject = json.RawMessage("{}")

// toAPArtifact is a as the protocol shows it, with its size if sized.
func toAPArtifact(a bulwark.Artifact, sized bool) apArtifact {
	dir := path.Dir(a.Path)
	if dir == "." {
		dir = ""
	}
	out := apArtifact{ArtifactID: a.ID, AgentCreated: !a.Uploaded, FileName: path.Base(a.Path), RelativePath: dir, CreatedAt: a.Created}
	if sized {
		out.Size = &a.Size
	}
	return out
}

func (s *Server) apTaskOf(r *http.Request, t bulwark.Task) (apTask, error) {
	p, _ := PrincipalFrom(r.Context())
	files, sized, err := s.taskFiles(r.Context(), r, p, t.ID)
	if err != nil {
		return apTask{}, err
	}
	if err := s.shownTasks(r.Context(), p.Tenant, &t); err != nil {
		return apTask{}, err
	}
	out := apTask{TaskID: t.ID, Input: t.Input, AdditionalInput: emptyObject, Artifacts: make([]apArtifact, 0, len(files)),
		CreatedAt: t.Created, Status: string(t.Status)}
	for _, f := range files {
		out.Artifacts = append(out.Artifacts, toAPArtifact(f, sized))
	}
	return out, nil
}

// apCreateTask answers POST /ap/v1/agent/tasks: the task is created and
// starts (or queues) at once; the answer is 200, as the protocol says.
func (s *Server) apCreateTask(w http.ResponseWriter, r *http.Request) error {
	const op = "server.apCreateTask"
	rt, err := s.runtime()
	if err != nil {
		return err
	}
	var req apTaskRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := checkAdditional(op, req.AdditionalInput); err != nil {
		return err
	}
	if req.Input == nil {
		return bulwark.Errorf(bulwark.Invalid, op, "input: say what the agent should do")
	}
	input, err := s.checkTask(r, op, *req.Input, "")
	if err != nil {
		return err
	}
	p, _ := PrincipalFrom(r.Context())
	model, err := s.taskModel(r.Context(), p.Tenant, "")
	if err != nil {
		return err
	}
	t, err := rt.Submit(r.Context(), p.Tenant, p.Actor(), bulwark.Task{Input: input, Model: model, CreatedBy: p.RightsUser()})
	if err != nil {
		return err
	}
	if err := s.auditTaskCreate(r, t, "agent-protocol"); err != nil {
		return err
	}
	out, err := s.apTaskOf(r, t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// checkAdditional accepts an absent or null additional_input, or a JSON
// object.
func checkAdditional(op string, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" || raw[0] == '{' {
		return nil
	}
	return bulwark.Errorf(bulwark.Invalid, op, "additional_input: want a JSON object")
}

// apPage reads the protocol's paging parameters: current_page and
// page_size, or page and pageSize.
func apPage(op string, r *http.Request) (page, size int, err error) {
	q := r.URL.Query()
	pick := func(a, b string) string {
		if v := q.Get(a); v != "" {
			return v
		}
		return q.Get(b)
	}
	if page, err = intParam(op, pick("current_page", "page"), "current_page", 1, 1, 1_000_000); err != nil {
		return 0, 0, err
	}
	if size, err = intParam(op, pick("page_size", "pageSize"), "page_size", 10, 1, 100); err != nil {
		return 0, 0, err
	}
	return page, size, nil
}

func pagination(total, page, size int) apPagination {
	return apPagination{TotalItems: total, TotalPages: (total + size - 1) / size, CurrentPage: page, PageSize: size}
}

// pageOf returns the items of page (from 1) of size.
func pageOf[T any](items []T, page, size int) []T {
	lo := min((page-1)*size, len(items))
	return items[lo:min(lo+size, len(items))]
}

type apTaskList struct {
	Tasks      []apTask     `json:"tasks"`
	Pagination apPagination `json:"pagination"`
}

func (s *Server) apListTasks(w http.ResponseWriter, r *http.Request) error {
	const op = "server.apListTasks"
	rt, err := s.runtime()
	if err != nil {
		return err
	}
	page, size, err := apPage(op, r)
	if err != nil {
		return err
	}
	res, err := rt.Tasks(r.Context(), TenantFrom(r.Context()), bulwark.TaskQuery{Limit: size, Offset: (page - 1) * size, Count: true})
	if err != nil {
		return err
	}
	out := apTaskList{Tasks: make([]apTask, 0, len(res.Tasks)), Pagination: pagination(res.Total, page, size)}
	for _, t := range res.Tasks {
		at, err := s.apTaskOf(r, t)
		if err != nil {
			return err
		}
		out.Tasks = append(out.Tasks, at)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) apGetTask(w http.ResponseWriter, r *http.Request) error {
	t, err := s.store.Task(r.Context(), TenantFrom(r.Context()), r.PathValue("task_id"))
	if err != nil {
		return err
	}
	out, err := s.apTaskOf(r, t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type apArtifactList struct {
	Artifacts  []apArtifact `json:"artifacts"`
	Pagination apPagination `json:"pagination"`
}

func (s *Server) apListArtifacts(w http.ResponseWriter, r *http.Request) error {
	const op = "server.apListArtifacts"
	page, size, err := apPage(op, r)
	if err != nil {
		return err
	}
	p, _ := PrincipalFrom(r.Context())
	files, sized, err := s.taskFiles(r.Context(), r, p, r.PathValue("task_id"))
	if err != nil {
		return err
	}
	out := apArtifactList{Artifacts: []apArtifact{}, Pagination: pagination(len(files), page, size)}
	for _, f := range pageOf(files, page, size) {
		out.Artifacts = append(out.Artifacts, toAPArtifact(f, sized))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// apUploadArtifact answers POST .../artifacts: a multipart/form-data body
// with the file in the part "file" and, optionally, the folder to put it
// in in the part (or query parameter) "relative_path", as the protocol
// says; or, beyond it, the file's raw bytes with any other Content-Type
// and its name in the query parameter "file_name" (see apUploadRaw). The
// file passes the same checks as PUT /api/v1/tasks/{id}/files/{path...}.
func (s *Server) apUploadArtifact(w http.ResponseWriter, r *http.Request) error {
	const op = "server.apUploadArtifact"
	id := r.PathValue("task_id")
	if _, err := s.store.Task(r.Context(), TenantFrom(r.Context()), id); err != nil {
		return err
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "multipart/form-data" {
		return s.apUploadRaw(w, r, id)
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return bulwark.E(bulwark.Invalid, op, "the multipart body cannot be read", err)
	}
	var data []byte
	var fileName string
	haveFile := false
	dir := r.URL.Query().Get("relative_path")
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return s.rejectUpload(w, r, id, "size", http.StatusRequestEntityTooLarge, "the file is too large: uploads may be at most "+bytesize.Text(s.maxFileSize()))
			}
			return bulwark.E(bulwark.Invalid, op, "the multipart body cannot be read", err)
		}
		switch part.FormName() {
		case "file":
			if haveFile {
				return bulwark.Errorf(bulwark.Invalid, op, "send one file per request")
			}
			haveFile, fileName = true, part.FileName()
			data, err = io.ReadAll(io.LimitReader(part, s.maxFileSize()+1))
		case "relative_path":
			var b []byte
			b, err = io.ReadAll(io.LimitReader(part, 4097))
			dir = string(b)
		default:
			_, err = io.Copy(io.Discard, part)
		}
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return s.rejectUpload(w, r, id, "size", http.StatusRequestEntityTooLarge, "the file is too large: uploads may be at most "+bytesize.Text(s.maxFileSize()))
			}
			return bulwark.E(bulwark.Invalid, op, "the multipart body cannot be read", err)
		}
	}
	if !haveFile {
		return bulwark.Errorf(bulwark.Invalid, op, "the part \"file\" is missing")
	}
	// The file name is the client's: only its last element counts, and
	// the whole path is checked again by acceptUpload.
	name := fileName
	if dir != "" && dir != "." {
		name = dir + "/" + fileName
	}
	if fileName == "" || len(dir) > 4096 {
		return s.rejectUpload(w, r, id, "name", http.StatusBadRequest, "the file needs a valid name")
	}
	a, err := s.acceptUpload(w, r, id, name, data)
	if err != nil || a == nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAPArtifact(*a, true))
	return nil
}

// apUploadRaw takes an artifact sent as its raw bytes, with any
// Content-Type: its name is the query parameter file_name, its folder
// relative_path.
func (s *Server) apUploadRaw(w http.ResponseWriter, r *http.Request, id string) error {
	q := r.URL.Query()
	fileName, dir := q.Get("file_name"), q.Get("relative_path")
	if fileName == "" {
		return bulwark.Errorf(bulwark.Invalid, "server.apUploadArtifact",
			"send the artifact as multipart/form-data with the file in the part \"file\", or its raw bytes with its name in ?file_name=")
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, s.maxFileSize()+1))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return s.rejectUpload(w, r, id, "size", http.StatusRequestEntityTooLarge, "the file is too large: uploads may be at most "+bytesize.Text(s.maxFileSize()))
		}
		return bulwark.E(bulwark.Invalid, "server.apUploadArtifact", "the upload was cut off", err)
	}
	name := fileName
	if dir != "" && dir != "." {
		name = dir + "/" + fileName
	}
	if len(dir) > 4096 {
		return s.rejectUpload(w, r, id, "name", http.StatusBadRequest, "the file needs a valid name")
	}
	a, err := s.acceptUpload(w, r, id, name, data)
	if err != nil || a == nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAPArtifact(*a, true))
	return nil
}

func (s *Server) apDownloadArtifact(w http.ResponseWriter, r *http.Request) error {
	rt, err := s.runtime()
	if err != nil {
		return err
	}
	tenant, id, aid := TenantFrom(r.Context()), r.PathValue("task_id"), r.PathValue("artifact_id")
	files, err := rt.Files(r.Context(), tenant, id)
	if err != nil {
		return err
	}
	// With downloads masked, an artifact is found by the ID its listing
	// shows (see taskFiles): by the real ID of a path that holds a
	// secret's value, computed from a guess, it would tell the guess.
	var red *secret.Redactor
	if s.cfg.MaskDownloads {
		if red, err = s.red.For(r.Context(), tenant); err != nil {
			return err
		}
	}
	for _, f := range files {
		shown := f
		if red != nil {
			shown, _ = shownFile(red, id, f)
		}
		if shown.ID == aid {
			_, data, err := rt.ReadFile(r.Context(), tenant, id, f.Path)
			if err != nil {
				return err
			}
			if data, err = s.maskDownload(r, data); err != nil {
				return err
			}
			writeDownload(w, shown.Path, data)
			return nil
		}
	}
	return bulwark.Errorf(bulwark.NotFound, "server.apDownloadArtifact", "no such artifact")
}

// apStepID is the id of turn n of a task: "step-N".
func apStepID(n int) string { return "step-" + strconv.Itoa(n) }
