package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// TestBrowser drives the web UI in a real headless Chromium against a
// real server: log in, start tasks on the fake model server and watch
// them live, approve a held call, cancel, upload and download, refuse a
// cross-origin POST, render hostile model text as text, and see no CSP
// violation on any page. The steps share one server and one browser and
// run in order.
func TestBrowser(t *testing.T) {
	b := startBrowser(t)
	s := startServer(t)
	steps := []struct {
		name string
		run  func(t *testing.T, b *browser, s *e2eServer)
	}{
		{"login", testLogin},
		{"settings policy", testSettingsPolicy},
		{"live steps", testLiveSteps},
		{"approval", testApproval},
		{"cancel", testCancel},
		{"answer a question", testAnswer},
		{"continue a conversation", testConversation},
		{"resume or cancel an interrupted task", testInterrupted},
		{"upload and download", testFiles},
		{"model text stays text", testHostileText},
		{"invisible characters in names shown", testSpoofedNames},
		{"long task pages old steps", testLongTask},
		{"cross-origin post refused", testCrossOrigin},
		{"task list usage", testTaskListUsage},
		{"answer once", testAnswerOnce},
		{"pending message", testPendingMessage},
		{"running command", testRunningCommand},
		{"sub-agents", testSubAgents},
		{"settings defaults", testSettingsDefaults},
		{"settings MCP servers", testSettingsMCP},
		{"secrets page", testSecretsPage},
		{"schedules page", testSchedulesPage},
		{"memory page", testMemoriesPage},
		{"skills page", testSkillsPage},
		{"every page", testPages},
		{"audit newest first with names", testAuditNames},
		{"security page", testSecurityPage},
		{"logout", testLogout},
		{"login redirect stays on site", testLoginRedirect},
		{"two-factor login", testTwoFactor},
	}
	for _, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			b.t = t
			st.run(t, b, s)
			b.noProblems(st.name)
		})
		if !ok && st.name == "login" {
			t.Fatal("cannot go on without logging in")
		}
	}
}

func testLogin(t *testing.T, b *browser, s *e2eServer) {
	b.open(s.URL + "/tasks")
	b.wait("the login page", `location.pathname === '/login' && document.querySelector('input[name=email]')`)
	b.noProblems("login page")
	b.shot("login")

	b.typeInto("input[name=email]", testEmail)
	b.typeInto("input[name=password]", "not the password")
	b.click("form button[type=submit]")
	b.wait("the API's error message", `document.querySelector('.error') && document.querySelector('.error').innerText.includes('the email or the password is wrong')`)

	b.setValue("input[name=password]", "")
	b.typeInto("input[name=password]", testPassword)
	b.click("form button[type=submit]")
	b.wait("the task list after login", `location.pathname === '/tasks' && document.querySelector('main .empty, main table')`)
	if who := b.text("#who"); who != testEmail {
		t.Errorf("the header shows %q, want the user's email %q", who, testEmail)
	}
	if got := b.text("main .empty"); !strings.Contains(got, "No tasks yet") {
		t.Errorf("the empty task list says %q, want a clear empty state", got)
	}
}

// testSettingsPolicy sets, through the settings page, a rule that holds
// writes under approved/ for a person, and a model API key, which the
// page never shows again.
func testSettingsPolicy(t *testing.T, b *browser, s *e2eServer) {
	const apiKey = "sk-e2e-model-key-0123456789abcdef"
	b.open(s.URL + "/settings")
	b.clickText("button", "Add a rule")
	b.typeInto("table.rules tbody tr:last-child input[aria-label=Tool]", "write_file")
	b.typeInto("table.rules tbody tr:last-child input[aria-label=Pattern]", "approved/*")
	b.setValue("table.rules tbody tr:last-child select", "ask")
	b.typeInto("input[type=password]", apiKey)
	b.click("form.settings button[type=submit]")
	b.wait("the settings to save", `document.querySelector('form.settings .note.ok')`)
	b.shot("settings")
	if v := evalJS[string](b, `document.querySelector('input[type=password]').value`); v != "" {
		t.Errorf("after saving, the API key field still holds %q", v)
	}
	if strings.Contains(evalJS[string](b, `document.documentElement.outerHTML`), apiKey) {
		t.Error("the settings page shows the API key after saving")
	}
	if got := b.text("form.settings .badge"); got != "a key is set" {
		t.Errorf("the key state reads %q, want \"a key is set\"", got)
	}

	var st struct {
		bulwark.Settings
		APIKeySet bool `json:"api_key_set"`
	}
	s.api(t, "GET", "/api/v1/settings", "", 200, &st)
	want := bulwark.Rule{Tool: "write_file", Pattern: "approved/*", Decision: bulwark.Ask}
	if !slices.Contains(st.Policy.Rules, want) || !st.APIKeySet {
		t.Fatalf("settings after the page saved them: rules %+v, api_key_set %v; want %+v and a key", st.Policy.Rules, st.APIKeySet, want)
	}
	b.open(s.URL + "/settings")
	b.wait("the loaded settings", `[...document.querySelectorAll('.badge')].some(e => e.innerText.includes('a key is set'))`)
	if strings.Contains(evalJS[string](b, `document.documentElement.outerHTML`), apiKey) {
		t.Error("the settings page shows the stored API key")
	}
}

// startTask starts a task through the new-task form and returns its id
// once its view is open.
func startTask(t *testing.T, b *browser, s *e2eServer, input string, files ...string) string {
	t.Helper()
	b.open(s.URL + "/tasks/new")
	b.typeInto("textarea[name=input]", input)
	if len(files) > 0 {
		b.doFresh(chromedp.SetUploadFiles(chromedp.CSS("input[name=files]"), files))
	}
	b.click("form button[type=submit]")
	b.wait("the task view", `/^\/tasks\/t_/.test(location.pathname) && document.querySelector('.task-head')`)
	return strings.TrimPrefix(b.path(), "/tasks/")
}

// testLiveSteps watches a task's steps arrive: the model's reply streams
// in (model_delta events are sent live only, never stored), then the tool
// call and its result, then the end.
func testLiveSteps(t *testing.T, b *browser, s *e2eServer) {
	id := startTask(t, b, s, "LIVE: write a report")
	b.wait("the task's first message", `document.querySelector('.msg.task')`)
	b.wait("the model's streamed reply", `document.querySelector('.msg.assistant[data-streamed=live]')`)
	b.wait("the tool call", `[...document.querySelectorAll('.call .tool')].some(e => e.innerText === 'write_file')`)
	b.wait("the end", `document.querySelector('.finish.ok')`)
	if got := b.text(".msg.assistant .text"); got != "I will write the report now." {
		t.Errorf("the streamed reply reads %q", got)
	}
	if got := b.text(".call .target"); got != "out/report.md" {
		t.Errorf("the call's target reads %q, want out/report.md", got)
	}
	if got := b.text(".finish .text"); got != "The report is in out/report.md." {
		t.Errorf("the answer reads %q", got)
	}
	b.wait("the status", `document.querySelector('.task-head .badge').innerText === 'succeeded'`)
	s.waitTask(t, id, bulwark.TaskSucceeded)
}

// testApproval has a write held by the policy set above, allows it in
// the prompt, and sees it run.
func testApproval(t *testing.T, b *browser, s *e2eServer) {
	id := startTask(t, b, s, "APPROVAL: write approved/ok.txt")
	b.visible(".approval-card")
	card := b.text(".approval-card")
	for _, want := range []string{"write_file", "approved/ok.txt", "write_file(approved/*)=ask"} {
		if !strings.Contains(card, want) {
			t.Errorf("the approval prompt %q does not show %q", card, want)
		}
	}
	b.wait("the waiting status", `document.querySelector('.task-head .badge').innerText === 'waiting'`)
	b.shotViewport("task-view-approval")
	b.clickText(".approval-card button", "Allow")
	b.wait("the end", `document.querySelector('.finish.ok')`)
	b.wait("the prompt to go", `document.querySelector('.approvals').hidden`)
	if got := b.text(".call .badges"); !strings.Contains(got, "allowed") {
		t.Errorf("the call's badges read %q, want allowed", got)
	}
	if got := b.text(".call .result"); !strings.Contains(got, "approved/ok.txt") || strings.Contains(got, "error") {
		t.Errorf("the call's result reads %q, want the write done", got)
	}
	b.shot("task-view")
	b.colorScheme("dark")
	b.shot("task-view-dark")
	b.colorScheme("")
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.open(s.URL + "/tasks/" + id)
	b.wait("the end", `document.querySelector('.finish.ok')`)
	b.shot("task-view-phone")
	if w := evalJS[int](b, `document.documentElement.scrollWidth`); w > 400 {
		t.Errorf("at phone width the task view is %dpx wide, want no horizontal scrolling", w)
	}
	b.do(chromedp.EmulateReset(), chromedp.EmulateViewport(1280, 900))

	s.waitTask(t, id, bulwark.TaskSucceeded)
	if got := s.download(t, id, "approved/ok.txt"); got != "written after approval" {
		t.Errorf("approved/ok.txt holds %q", got)
	}
}

// cancelReply is what the model of the task testCancel cancels writes
// before it hangs: more than the stream holds back.
var cancelReply = "Working on it for a very long time." + strings.Repeat(" Still working.", 50)

// testCancel cancels a running task from its view.
func testCancel(t *testing.T, b *browser, s *e2eServer) {
	id := startTask(t, b, s, "CANCEL: work forever")
	b.wait("the running status", `document.querySelector('.task-head .badge').innerText === 'running'`)
	b.wait("the streamed reply", `document.querySelector('.msg.streaming') && document.querySelector('.msg.streaming').innerText.includes('very long time')`)
	b.typeInto(".message-box textarea", "please hurry")
	b.click(".message-box button[type=submit]")
	b.wait("the message sent", `document.querySelector('.message-box textarea').value === '' && !document.querySelector('.message-box button').disabled`)
	if got := b.text(".message-box .errors"); got != "" {
		t.Errorf("sending a message shows %q", got)
	}
	b.clickText(".cancel-box button", "Cancel task")
	b.clickText(".cancel-box button", "Yes, cancel it")
	b.wait("the end", `document.querySelector('.finish.bad')`)
	if got := b.text(".finish"); !strings.Contains(got, "Canceled") {
		t.Errorf("the end reads %q, want Canceled", got)
	}
	b.wait("the canceled status", `document.querySelector('.task-head .badge').innerText === 'canceled'`)
	if got := b.text(".msg.assistant .text"); !strings.HasPrefix(got, "Working on it for a very long time") || !strings.HasPrefix(cancelReply, got) {
		t.Errorf("the reply cut by the cancel reads %q, want a start of %q", got, cancelReply)
	}
	if evalJS[bool](b, `!!document.querySelector('.msg.streaming')`) {
		t.Error("a reply still looks as if it were streaming after the task ended")
	}
	if b.text(".cancel-box") != "" {
		t.Error("the ended task still offers cancel")
	}
	if !evalJS[bool](b, `document.querySelector('.message-box label').innerText === 'Continue the conversation'`) {
		t.Error("the ended task does not offer to continue its conversation")
	}
	s.waitTask(t, id, bulwark.TaskCanceled)
}

// testAnswer answers the agent's question through the message box.
func testAnswer(t *testing.T, b *browser, s *e2eServer) {
	id := startTask(t, b, s, "ASK: draw a chart")
	b.wait("the question", `document.querySelector('.msg.question')`)
	if got := b.text(".msg.question .text"); got != "Which colour should the chart be?" {
		t.Errorf("the question reads %q", got)
	}
	b.wait("the box to offer an answer", `document.querySelector('.message-box label').innerText === 'Answer the agent'`)
	b.typeInto(".message-box textarea", "Blue, please")
	b.click(".message-box button[type=submit]")
	b.wait("the end", `document.querySelector('.finish.ok')`)
	if got := b.text(".msg.user .text"); got != "Blue, please" {
		t.Errorf("the answer shows as %q", got)
	}
	s.waitTask(t, id, bulwark.TaskSucceeded)
}

// testConversation sends a message to a finished task from its page:
// the task goes on in a new turn, shown live, and the list marks it as a
// conversation.
func testConversation(t *testing.T, b *browser, s *e2eServer) {
	id := startTask(t, b, s, "CHAT: say hello")
	b.wait("the end of the first turn", `document.querySelector('.finish.ok')`)
	b.wait("the box to continue", `document.querySelector('.message-box label').innerText === 'Continue the conversation'`)
	b.typeInto(".message-box textarea", "Now write some notes")
	b.click(".message-box button[type=submit]")
	b.wait("the end of the second turn", `document.querySelectorAll('.finish.ok').length === 2`)
	if got := b.text(".msg.user .text"); got != "Now write some notes" {
		t.Errorf("the message shows as %q", got)
	}
	if got := s.waitTask(t, id, bulwark.TaskSucceeded); got.Answer != "second answer" || got.Turns != 2 {
		t.Errorf("the task ended %q after %d turns, want the second answer after 2", got.Answer, got.Turns)
	}
	b.open(s.URL + "/tasks")
	b.wait("the conversation in the list", `[...document.querySelectorAll('table.tasks .badge.turns')].some(e => e.innerText === '2 turns')`)
}

// testInterrupted offers resume and cancel on tasks a restart
// interrupted, and both work.
func testInterrupted(t *testing.T, b *browser, s *e2eServer) {
	ctx := context.Background()
	var ids []string
	for _, input := range []string{"CHAT: cut short", "CHAT: also cut short"} {
		tk, err := s.db.CreateTask(ctx, s.tenant, bulwark.Task{Input: input, Status: bulwark.TaskInterrupted})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID)
	}
	b.open(s.URL + "/tasks/" + ids[0])
	b.wait("the resume button", `[...document.querySelectorAll('.cancel-box button')].some(e => e.innerText === 'Resume')`)
	b.clickText(".cancel-box button", "Resume")
	b.wait("the resumed task's end", `document.querySelector('.finish.ok')`)
	if got := s.waitTask(t, ids[0], bulwark.TaskSucceeded); got.Answer != "first answer" {
		t.Errorf("the resumed task answered %q", got.Answer)
	}
	b.open(s.URL + "/tasks/" + ids[1])
	b.wait("the cancel button", `[...document.querySelectorAll('.cancel-box button')].some(e => e.innerText === 'Cancel task')`)
	b.clickText(".cancel-box button", "Cancel task")
	b.clickText(".cancel-box button", "Yes, cancel it")
	s.waitTask(t, ids[1], bulwark.TaskCanceled)
}

// testFiles uploads a file with a new task, lets the agent read it and
// write its output, then previews and downloads the output.
func testFiles(t *testing.T, b *browser, s *e2eServer) {
	in := filepath.Join(t.TempDir(), "input.txt")
	if err := os.WriteFile(in, []byte("hello from the upload\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := startTask(t, b, s, "FILES: process input.txt", in)
	b.wait("the end", `document.querySelector('.finish')`)
	if got := b.text(".finish"); !strings.Contains(got, "output.txt holds the result") {
		t.Fatalf("the task ended with %q", got)
	}
	if got := b.text(".call .result"); !strings.Contains(got, "hello from the upload") {
		t.Errorf("read_file's result reads %q, want the uploaded text", got)
	}

	b.clickText("a.button", "Files")
	b.wait("the file list", `document.querySelector('table.files')`)
	list := b.text("table.files")
	for _, want := range []string{"input.txt", "uploaded", "output.txt"} {
		if !strings.Contains(list, want) {
			t.Errorf("the file list %q lacks %q", list, want)
		}
	}
	b.do(chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('table.files tr')].find(r => r.innerText.includes('output.txt')).querySelector('button').click()`))
	b.wait("the preview", `document.querySelector('.preview pre')`)
	b.shot("files")
	if got := b.text(".preview pre"); got != "PROCESSED: hello from the upload" {
		t.Errorf("the preview shows %q", got)
	}

	notes := filepath.Join(t.TempDir(), "notes.md")
	if err := os.WriteFile(notes, []byte("# Notes\nadded after the run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.doFresh(chromedp.SetUploadFiles(chromedp.CSS("input[name=upload]"), []string{notes}))
	b.click("form.upload button[type=submit]")
	b.wait("the uploaded file in the list", `[...document.querySelectorAll('table.files tr')].some(r => r.innerText.includes('notes.md') && r.innerText.includes('uploaded'))`)
	if got := s.download(t, id, "notes.md"); got != "# Notes\nadded after the run\n" {
		t.Errorf("notes.md uploaded on the files page holds %q", got)
	}

	dir := t.TempDir()
	if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir}); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('table.files tr')].find(r => r.innerText.includes('output.txt')).querySelector('a[download]').click()`))
	got := ""
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && got == ""; time.Sleep(100 * time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(dir, "output.txt")); err == nil {
			got = string(b)
		}
	}
	if got != "PROCESSED: hello from the upload" {
		entries, _ := os.ReadDir(dir)
		t.Errorf("the downloaded output.txt holds %q (folder: %v)", got, entries)
	}
	s.waitTask(t, id, bulwark.TaskSucceeded)
}

// testHostileText has the model reply with markup and script; the view
// must show it as text and run none of it.
func testHostileText(t *testing.T, b *browser, s *e2eServer) {
	var task bulwark.Task
	s.api(t, "POST", "/api/v1/tasks", `{"input":"XSS: <script>window.__pwned=5</script> render this"}`, 201, &task)
	b.open(s.URL + "/tasks/" + task.ID)
	b.wait("the end", `document.querySelector('.finish')`)
	if got := b.text(".msg.assistant .text"); got != xssText {
		t.Errorf("the model's reply shows as %q, want the text %q", got, xssText)
	}
	if got := b.text(".finish .text"); got != `<img src=x onerror="window.__pwned=4">answer` {
		t.Errorf("the answer shows as %q", got)
	}
	if got := b.text(".msg.task .text"); !strings.Contains(got, "<script>window.__pwned=5</script>") {
		t.Errorf("the task input shows as %q", got)
	}
	if got := evalJS[string](b, `document.querySelector('.call .args pre').textContent`); !strings.Contains(got, "<script>window.__pwned=3</script>") {
		t.Errorf("the call's arguments show as %q", got)
	}
	checkNoInjection(t, b)

	b.open(s.URL + "/tasks/" + task.ID + "/files")
	b.wait("x.html in the file list", `[...document.querySelectorAll('table.files tr')].some(r => r.innerText.includes('x.html'))`)
	b.do(chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('table.files tr')].find(r => r.innerText.includes('x.html')).querySelector('button').click()`))
	b.wait("the preview", `document.querySelector('.preview pre')`)
	if got := b.text(".preview pre"); got != "<script>window.__pwned=3</script>" {
		t.Errorf("the preview of x.html shows %q", got)
	}
	checkNoInjection(t, b)
}

// checkNoInjection fails if any scripted text became an element or ran.
func checkNoInjection(t *testing.T, b *browser) {
	t.Helper()
	counts := evalJS[map[string]int](b, `({
		scripts: document.querySelectorAll('body script').length,
		imgs: document.querySelectorAll('img[src=x], img[onerror]').length,
		bold: document.querySelectorAll('main b').length,
		handlers: document.querySelectorAll('[onerror], [onload], [onclick]').length,
	})`)
	for k, n := range counts {
		if n != 0 {
			t.Errorf("the page has %d injected %s", n, k)
		}
	}
	if pwned := evalJS[string](b, `String(window.__pwned)`); pwned != "undefined" {
		t.Errorf("injected script ran: window.__pwned = %s", pwned)
	}
}

// testLongTask opens a task of hundreds of steps: the view keeps only
// the last ones in the DOM and loads earlier ones on demand (GET
// .../steps), back to the first.
func testLongTask(t *testing.T, b *browser, s *e2eServer) {
	var task bulwark.Task
	s.api(t, "POST", "/api/v1/tasks", `{"input":"MANY: write the files","limits":{"max_steps":250,"max_tokens":10000000}}`, 201, &task)
	s.waitTask(t, task.ID, bulwark.TaskSucceeded)
	b.open(s.URL + "/tasks/" + task.ID)
	b.wait("the end", `document.querySelector('.finish.ok')`)
	b.visible("button.earlier")
	shown := evalJS[int](b, `document.querySelectorAll('.step').length`)
	if shown >= manySteps || evalJS[bool](b, `!!document.querySelector('.step[data-step="1"]')`) {
		t.Fatalf("the view of %d steps shows %d of them in the DOM, from step 1; want only the last ones", manySteps+1, shown)
	}
	for i := 0; i < 10 && !evalJS[bool](b, `!!document.querySelector('.step[data-step="1"]')`); i++ {
		b.click("button.earlier")
		b.wait("earlier steps", fmt.Sprintf(`document.querySelectorAll('.step').length > %d || document.querySelector('.step[data-step="1"]')`, shown))
		shown = evalJS[int](b, `document.querySelectorAll('.step').length`)
	}
	if got := b.text(`.step[data-step="1"] .call .target`); got != "many/001.txt" {
		t.Errorf("after loading earlier steps, step 1's call reads %q, want many/001.txt", got)
	}
	if n := evalJS[int](b, `document.querySelectorAll('.call').length`); n != manySteps+1 {
		t.Errorf("%d calls shown after loading every step, want %d", n, manySteps+1)
	}
	if !evalJS[bool](b, `document.querySelector('button.earlier').hidden`) {
		t.Error("the load-earlier button stays once the first step is shown")
	}
}

// testCrossOrigin opens a page of another origin of the same site (so the
// SameSite=Lax session cookie goes along) that posts to the API with the
// user's cookie; the server must refuse, and nothing may change.
func testCrossOrigin(t *testing.T, b *browser, s *e2eServer) {
	var target bulwark.Task
	s.api(t, "POST", "/api/v1/tasks", `{"input":"HANG: the target of the cross-origin page"}`, 201, &target)
	s.waitTask(t, target.ID, bulwark.TaskRunning)
	tasksBefore := len(s.tasks(t))
	var keys struct{ Keys []bulwark.APIKey }
	s.api(t, "GET", "/api/v1/keys", "", 200, &keys)
	keysBefore := len(keys.Keys)
	refusedBefore := len(s.audited(t, "csrf.rejected"))

	evil := evilOrigin(t, s.URL, target.ID)
	b.do(chromedp.Navigate(evil))
	b.wait("the other origin's requests and form post", `location.origin !== '`+evil+`'`)
	time.Sleep(300 * time.Millisecond)
	if body := evalJS[string](b, `document.body ? document.body.innerText : ''`); !strings.Contains(body, "cross-origin request refused") {
		t.Errorf("the cross-origin form post got %q, want the server's refusal", body)
	}
	b.takeProblems() // the other origin's console is not the UI's

	if tk := s.waitTask(t, target.ID, bulwark.TaskRunning); tk.Status != bulwark.TaskRunning {
		t.Errorf("the task the other origin canceled is %s", tk.Status)
	}
	for _, tk := range s.tasks(t) {
		if strings.Contains(tk.Input, "EVIL") {
			t.Errorf("the other origin created a task: %q", tk.Input)
		}
	}
	if n := len(s.tasks(t)); n != tasksBefore {
		t.Errorf("tasks: %d before, %d after the other origin's posts", tasksBefore, n)
	}
	s.api(t, "GET", "/api/v1/keys", "", 200, &keys)
	if len(keys.Keys) != keysBefore {
		t.Errorf("keys: %d before, %d after the other origin's posts", keysBefore, len(keys.Keys))
	}
	if len(s.audited(t, "csrf.rejected")) == refusedBefore && refusedBefore == 0 {
		t.Error("the server audited no csrf.rejected refusal")
	}
	// The user is still logged in, and the UI still works.
	b.open(s.URL + "/tasks/" + target.ID)
	b.wait("the running task", `document.querySelector('.task-head .badge').innerText === 'running'`)
	s.api(t, "POST", "/api/v1/tasks/"+target.ID+"/cancel", "", 202, nil)
	s.waitTask(t, target.ID, bulwark.TaskCanceled)
}

// testPages visits every page, uses each once, and checks that none
// reports a CSP violation or a script error.
func testPages(t *testing.T, b *browser, s *e2eServer) {
	b.open(s.URL + "/tasks")
	b.wait("the task table", `document.querySelectorAll('table.tasks tbody tr').length >= 5`)
	b.setValue("select[name=status]", "canceled")
	b.wait("the filtered list", `location.search === '?status=canceled' && [...document.querySelectorAll('table.tasks tbody tr')].length > 0 &&
		[...document.querySelectorAll('table.tasks tbody .badge')].every(e => e.innerText === 'canceled')`)
	b.shot("task-list")
	b.noProblems("/tasks")

	b.open(s.URL + "/keys")
	b.typeInto("form input[type=text]", "e2e key")
	b.click("form button[type=submit]")
	b.wait("the new key, shown once", `document.querySelector('input.token') && document.querySelector('input.token').value.startsWith('bwk_')`)
	token := evalJS[string](b, `document.querySelector('input.token').value`)
	b.wait("the key in the list", `document.querySelector('table') && document.querySelector('table').innerText.includes('e2e key')`)
	b.open(s.URL + "/keys")
	b.wait("the key list", `[...document.querySelectorAll('tbody tr')].some(r => r.innerText.includes('e2e key'))`)
	if strings.Contains(evalJS[string](b, `document.documentElement.outerHTML`), token) {
		t.Error("the keys page shows a key's token a second time")
	}
	b.do(chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('tbody tr')].find(r => r.innerText.includes('e2e key')).querySelector('button.danger').click()`))
	b.do(chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('tbody tr')].find(r => r.innerText.includes('e2e key')).querySelector('button.danger').click()`))
	b.wait("the key to go", `!document.querySelector('main').innerText.includes('e2e key')`)
	req, _ := http.NewRequest("GET", s.URL+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the revoked key still works: %v %v", resp.Status, err)
	}
	b.noProblems("/keys")

	b.open(s.URL + "/users")
	b.typeInto("form input[type=email]", "member@e2e.test")
	b.typeInto("form input[type=password]", "quiet orchard lantern 1987")
	b.click("form button[type=submit]")
	b.wait("the new user", `document.querySelector('table') && document.querySelector('table').innerText.includes('member@e2e.test')`)
	b.noProblems("/users")

	b.open(s.URL + "/audit")
	b.wait("audit records", `document.querySelectorAll('table.audit tbody tr').length > 0`)
	b.clickText("button", "Verify the chain")
	b.wait("the verdict", `document.querySelector('.verdict')`)
	b.shotViewport("audit")
	if got := b.text(".verdict"); !strings.Contains(got, "The chain is intact") || !strings.Contains(got, "each record's MAC checked") {
		t.Errorf("the audit verification reads %q", got)
	}
	b.typeInto("form.filters input[type=text]", "auth.*")
	b.click("form.filters button[type=submit]")
	b.wait("the filtered records", `[...document.querySelectorAll('table.audit tbody tr')].length > 0 &&
		[...document.querySelectorAll('table.audit tbody tr td:nth-child(4)')].every(e => e.innerText.startsWith('auth.'))`)
	b.noProblems("/audit")

	for _, p := range []string{"/", "/tasks/new", "/settings", "/tasks/t_nonexistent"} {
		b.open(s.URL + p)
		b.noProblems(p)
	}
	if got := b.text("main .error"); got == "" {
		t.Error("the view of an unknown task shows no error")
	}
}

func testLogout(t *testing.T, b *browser, s *e2eServer) {
	b.open(s.URL + "/tasks")
	b.click("#logout")
	b.wait("the login page", `location.pathname === '/login'`)
	b.open(s.URL + "/settings")
	b.wait("the login page", `location.pathname === '/login' && location.search === '?next=%2Fsettings'`)
}

// testLoginRedirect: /login?next=%2F%09%2Fevil.example%2F (a TAB the
// browser strips, making //evil.example) must not send the browser to
// another site after login, neither through the server nor through the
// page's own check (safeNext, called directly in the page).
func testLoginRedirect(t *testing.T, b *browser, s *e2eServer) {
	b.open(s.URL + "/login?next=%2F%09%2Fevil.example%2F")
	b.wait("the login page", `location.pathname === '/login' && document.querySelector('input[name=email]')`)
	got := evalJS[string](b, `(async () => {
  const src = document.querySelector('script[type=module]').src;
  const m = await import(new URL('login.js', src).href);
  return ['/\t/evil.example/', '/\n/evil.example/', '/\\evil.example', '//evil.example', 'https://evil.example/', '/settings']
    .map(m.safeNext).join(' ');
})()`, chromedp.EvalAwaitPromise)
	if want := "/tasks /tasks /tasks /tasks /tasks /settings"; got != want {
		t.Errorf("the page's safeNext gives %q, want %q", got, want)
	}
	b.typeInto("input[name=email]", testEmail)
	b.typeInto("input[name=password]", testPassword)
	b.click("form button[type=submit]")
	b.wait("the task list after login", `location.pathname === '/tasks'`)
	if origin := evalJS[string](b, `location.origin`); origin != s.URL {
		t.Errorf("after login the browser is at %s, want %s", origin, s.URL)
	}
}

// download reads a task's file through the API.
func (s *e2eServer) download(t *testing.T, id, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/api/v1/tasks/"+id+"/files/"+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET file %s = %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

// testSpoofedNames runs a task whose title holds a zero-width space (bidi controls are taken out of a task's input) and
// whose model writes "docs/report\u202efdp.exe" (a right-to-left
// override: "reportexe.pdf" as a browser shows it raw). The task list,
// the task's title, the call's target, the file list and the preview
// spell both characters out; the file's links still reach it, under the
// name stored, and its download is named without the override.
func testSpoofedNames(t *testing.T, b *browser, s *e2eServer) {
	const rlo, shownRLO = "\u202e", "⟨U+202E⟩"
	var tk bulwark.Task
	s.api(t, "POST", "/api/v1/tasks", `{"input":"SPOOF: invoice\u200b copy"}`, 201, &tk)
	id := tk.ID
	b.open(s.URL + "/tasks/" + id)
	b.wait("the end", `document.querySelector('.finish')`)
	if got := b.text(".task-head h1"); got != "SPOOF: invoice⟨U+200B⟩ copy" {
		t.Errorf("the task's title reads %+q, want the zero-width space spelled out", got)
	}
	if got := b.text(".call .target"); got != "docs/report"+shownRLO+"fdp.exe" {
		t.Errorf("the call's target reads %+q, want the override spelled out", got)
	}
	b.open(s.URL + "/tasks")
	row := `[...document.querySelectorAll('table.tasks tbody tr')].find(r => r.innerText.includes('SPOOF'))`
	b.wait("the task's row", row)
	if got := evalJS[string](b, row+`.querySelector('td[data-label=Task]').innerText.trim()`); got != "SPOOF: invoice⟨U+200B⟩ copy" {
		t.Errorf("the task list shows the title as %+q", got)
	}
	b.open(s.URL + "/tasks/" + id + "/files")
	b.wait("the file list", `document.querySelector('table.files')`)
	b.do(chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('table.files tr.dir button')].find(x => x.innerText === 'docs/').click()`))
	b.wait("the folder", `document.querySelector('table.files tbody tr:not(.dir) .mono')`)
	if got := b.text("table.files tbody tr:not(.dir) .mono"); got != "report"+shownRLO+"fdp.exe" {
		t.Errorf("the file list shows %+q, want the override spelled out", got)
	}
	if strings.Contains(evalJS[string](b, `document.querySelector('main').innerText`), rlo) {
		t.Error("the files page shows a raw right-to-left override")
	}
	link := evalJS[map[string]string](b, `(() => { const a = document.querySelector('table.files tbody tr:not(.dir) a'); return {href: a.getAttribute('href'), download: a.getAttribute('download')}; })()`)
	if want := "/api/v1/tasks/" + id + "/files/docs/report%E2%80%AEfdp.exe"; link["href"] != want {
		t.Errorf("the download link is %q, want %q (the name as stored)", link["href"], want)
	}
	if link["download"] != "reportfdp.exe" {
		t.Errorf("the link downloads as %+q, want %q", link["download"], "reportfdp.exe")
	}
	if got := evalJS[string](b, `fetch(document.querySelector('table.files tbody tr:not(.dir) a').href).then(r => r.status + ' ' + r.headers.get('Content-Disposition'))`, chromedp.EvalAwaitPromise); got != `200 attachment; filename=reportfdp.exe` {
		t.Errorf("fetching the link gives %q", got)
	}
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('table.files tbody tr:not(.dir) button').click()`))
	b.wait("the preview", `document.querySelector('.preview pre')`)
	if got := b.text(".preview h2"); got != "docs/report"+shownRLO+"fdp.exe" {
		t.Errorf("the preview's heading reads %+q", got)
	}
	if got := b.text(".preview pre"); got != "not a PDF" {
		t.Errorf("the preview shows %q", got)
	}
}
