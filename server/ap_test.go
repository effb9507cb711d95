package server

import (
	"bytes"
	"mime/multipart"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// apUpload builds an Agent Protocol artifact upload.
func apUpload(t *testing.T, name, relPath, content string) (string, map[string]string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if relPath != "" {
		mw.WriteField("relative_path", relPath)
	}
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte(content))
	mw.Close()
	return b.String(), map[string]string{"Content-Type": mw.FormDataContentType()}
}

// TestAgentProtocol walks a task through the protocol: create, list with
// both paging styles, execute steps until is_last, read a step, upload
// and download an artifact.
func TestAgentProtocol(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t)
	w := te.do(req{method: "POST", path: "/ap/v1/agent/tasks", body: `{"input":"turns:2","additional_input":{"run":"1"}}`, key: te.key})
	if w.Code != 200 {
		t.Fatalf("create = %d %s", w.Code, w.Body)
	}
	task := decode[apTask](t, w)
	if task.TaskID == "" || task.Input != "turns:2" || string(task.AdditionalInput) != "{}" || task.Artifacts == nil {
		t.Errorf("created task = %+v", task)
	}
	te.do(req{method: "POST", path: "/ap/v1/agent/tasks", body: `{"input":"second"}`, key: te.key})
	for _, q := range []string{"?page_size=1&current_page=2", "?pageSize=1&page=2"} {
		list := decode[apTaskList](t, te.do(req{method: "GET", path: "/ap/v1/agent/tasks" + q, key: te.key}))
		if len(list.Tasks) != 1 || list.Tasks[0].TaskID != task.TaskID || list.Pagination != (apPagination{TotalItems: 2, TotalPages: 2, CurrentPage: 2, PageSize: 1}) {
			t.Errorf("list %s = %+v", q, list)
		}
	}
	// Execute steps until the last: each call returns the next turn.
	var got []apStep
	for i := 0; i < 10; i++ {
		body := ""
		if i == 0 {
			body = `{"input":"turns:2"}` // the task's own input: continue
		}
		w := te.do(req{method: "POST", path: "/ap/v1/agent/tasks/" + task.TaskID + "/steps", body: body, key: te.key})
		if w.Code != 200 {
			t.Fatalf("execute step %d = %d %s", i, w.Code, w.Body)
		}
		st := decode[apStep](t, w)
		got = append(got, st)
		if st.IsLast {
			break
		}
	}
	var ids []string
	for _, st := range got {
		ids = append(ids, st.StepID+"/"+st.Status)
	}
	if strings.Join(ids, " ") != "step-1/completed step-2/completed step-3/completed" {
		t.Fatalf("executed steps %v, want the three turns in order", ids)
	}
	if s1 := got[0]; s1.Name != "write_file" || s1.Output == nil || *s1.Output != "turn 1" || len(s1.Artifacts) != 1 || s1.Artifacts[0].FileName != "f1.txt" {
		t.Errorf("step 1 = %+v", s1)
	}
	if last := got[2]; last.Output == nil || *last.Output != "all turns done" || last.AdditionalOutput["finish_reason"] != "done" {
		t.Errorf("the last step = %+v", last)
	}
	// Executing again without input returns the last step (an input
	// would continue the conversation: TestAgentProtocolStepContinues).
	if st := decode[apStep](t, te.do(req{method: "POST", path: "/ap/v1/agent/tasks/" + task.TaskID + "/steps", key: te.key})); st.StepID != "step-3" || !st.IsLast {
		t.Errorf("execute after the end = %+v", st)
	}
	list := decode[apStepList](t, te.do(req{method: "GET", path: "/ap/v1/agent/tasks/" + task.TaskID + "/steps?page_size=2&current_page=2", key: te.key}))
	if len(list.Steps) != 1 || list.Steps[0].StepID != "step-3" || list.Pagination.TotalItems != 3 {
		t.Errorf("steps page 2 = %+v", list)
	}
	if st := decode[apStep](t, te.do(req{method: "GET", path: "/ap/v1/agent/tasks/" + task.TaskID + "/steps/step-2", key: te.key})); st.StepID != "step-2" {
		t.Errorf("GET step-2 = %+v", st)
	}
	for _, bad := range []string{"step-0", "step-4", "2", "step-02"} {
		if w := te.do(req{method: "GET", path: "/ap/v1/agent/tasks/" + task.TaskID + "/steps/" + bad, key: te.key}); w.Code != 404 {
			t.Errorf("GET step %s = %d, want 404", bad, w.Code)
		}
	}
	// Artifacts: the two files it wrote, one upload, downloads by id.
	body, h := apUpload(t, "up.txt", "docs", "uploaded content")
	w = te.do(req{method: "POST", path: "/ap/v1/agent/tasks/" + task.TaskID + "/artifacts", body: body, key: te.key, header: h})
	if w.Code != 200 {
		t.Fatalf("upload = %d %s", w.Code, w.Body)
	}
	up := decode[apArtifact](t, w)
	if up.FileName != "up.txt" || up.RelativePath != "docs" || up.AgentCreated || up.ArtifactID != bulwark.ArtifactID(task.TaskID, "docs/up.txt") {
		t.Errorf("uploaded artifact = %+v", up)
	}
	arts := decode[apArtifactList](t, te.do(req{method: "GET", path: "/ap/v1/agent/tasks/" + task.TaskID + "/artifacts", key: te.key}))
	if len(arts.Artifacts) != 3 || arts.Pagination.TotalItems != 3 {
		t.Errorf("artifacts = %+v", arts)
	}
	w = te.do(req{method: "GET", path: "/ap/v1/agent/tasks/" + task.TaskID + "/artifacts/" + up.ArtifactID, key: te.key})
	if w.Code != 200 || w.Body.String() != "uploaded content" || !strings.HasPrefix(w.Header().Get("Content-Disposition"), "attachment") {
		t.Errorf("download = %d %q %v", w.Code, w.Body, w.Header())
	}
	if w := te.do(req{method: "GET", path: "/ap/v1/agent/tasks/" + task.TaskID + "/artifacts/f_nope", key: te.key}); w.Code != 404 {
		t.Errorf("an unknown artifact = %d, want 404", w.Code)
	}
	for _, tt := range []struct {
		name, rel string
		code      int
	}{
		{"x.txt", "../..", 400}, {"x.txt", "/etc", 400}, {"x.txt", "a/../../b", 400}, {"run.txt", "", 415},
	} {
		content := "fine"
		if tt.code == 415 {
			content = string(elf)
		}
		body, h := apUpload(t, tt.name, tt.rel, content)
		w := te.do(req{method: "POST", path: "/ap/v1/agent/tasks/" + task.TaskID + "/artifacts", body: body, key: te.key, header: h})
		if w.Code != tt.code {
			t.Errorf("upload %s into %q = %d %s, want %d", tt.name, tt.rel, w.Code, w.Body, tt.code)
		}
	}
	if w := te.do(req{method: "POST", path: "/ap/v1/agent/tasks/" + task.TaskID + "/artifacts", body: `{"file":"x"}`, key: te.key}); w.Code != 400 {
		t.Errorf("a JSON upload = %d, want 400", w.Code)
	}
	// A session cannot reach the protocol: it takes API keys only.
	if w := te.do(req{method: "GET", path: "/ap/v1/agent/tasks", cookie: te.login(te.a.users[bulwark.RoleOwner].Email)}); w.Code != 401 {
		t.Errorf("the protocol with a session = %d, want 401", w.Code)
	}
}

// TestAgentProtocolStepSendsInput: a step with a new input reaches the
// running task as a message.
func TestAgentProtocolStepSendsInput(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t)
	task := decode[apTask](t, te.do(req{method: "POST", path: "/ap/v1/agent/tasks", body: `{"input":"question: name"}`, key: te.key}))
	te.waitTask(te.key, task.TaskID, func(v taskView) bool {
		return slices.ContainsFunc(te.steps(task.TaskID), func(e bulwark.Event) bool { return e.Type == bulwark.EventAskUser })
	})
	w := te.do(req{method: "POST", path: "/ap/v1/agent/tasks/" + task.TaskID + "/steps", body: `{"input":"Grace"}`, key: te.key})
	if st := decode[apStep](t, w); w.Code != 200 || st.StepID != "step-1" || st.Status != "completed" || st.Name != "ask_user" {
		t.Errorf("the step with the answer = %d %+v, want step-1 (ask_user) completed", w.Code, st)
	}
	got := te.waitTask(te.key, task.TaskID, ended)
	if got.Answer != "hello Grace" {
		t.Errorf("answer %q, want the step's input to have reached the task", got.Answer)
	}
}

// TestAgentProtocolStepContinues: a step with input on a task that has
// stopped continues its conversation, as a message does: the step
// returned is the new turn's, and the task ends its second turn.
func TestAgentProtocolStepContinues(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t)
	task := decode[apTask](t, te.do(req{method: "POST", path: "/ap/v1/agent/tasks", body: `{"input":"plain"}`, key: te.key}))
	step := func(body string) apStep {
		t.Helper()
		w := te.do(req{method: "POST", path: "/ap/v1/agent/tasks/" + task.TaskID + "/steps", body: body, key: te.key})
		if w.Code != 200 {
			t.Fatalf("execute step = %d %s", w.Code, w.Body)
		}
		return decode[apStep](t, w)
	}
	first := step("")
	for i := 0; !first.IsLast && i < 10; i++ {
		first = step("")
	}
	if first.StepID != "step-1" || !first.IsLast {
		t.Fatalf("the first turn ended with %+v", first)
	}
	next := step(`{"input":"and now the rest"}`)
	for i := 0; !next.IsLast && i < 10; i++ {
		next = step("")
	}
	if next.StepID != "step-2" || !next.IsLast || next.AdditionalOutput["input_not_delivered"] != nil ||
		next.Input == nil || *next.Input != "and now the rest" {
		t.Errorf("a step with input after the end = %+v, want the second turn's step, with the input", next)
	}
	v := te.waitTask(te.key, task.TaskID, ended)
	if v.Turns != 2 || v.Status != bulwark.TaskSucceeded {
		t.Errorf("after the step the task is %s in turn %d, want succeeded in turn 2", v.Status, v.Turns)
	}
}
