package web_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/chromedp/chromedp"
)

// The browser tests of the UI fixes of issue 12: usage in the task list,
// names that never break mid-word, the audit log newest first with names,
// the answer shown once, a message shown at once, the settings' defaults
// and the secrets page.

// wrapped returns, as "text=N", each element matching sel whose text takes
// more than one line (N tops among a Range's client rects, one rect per
// line box), so a test can ask for none.
func (b *browser) wrapped(sel string) []string {
	b.t.Helper()
	return evalJS[[]string](b, fmt.Sprintf(`[...document.querySelectorAll(%q)].flatMap(el => {
		const r = document.createRange();
		r.selectNodeContents(el);
		const tops = new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top)));
		return tops.size > 1 ? [el.innerText + '=' + tops.size] : [];
	})`, sel))
}

// testTaskListUsage runs a task whose model reports its usage, then finds
// its tokens, cost and time in the task list, and every task's usage in
// the API; the long model name stays on one line.
func testTaskListUsage(t *testing.T, b *browser, s *e2eServer) {
	const model = "openai:gpt-4o-mini-2024-07-18-extended-context-preview"
	var tk bulwark.Task
	s.api(t, "POST", "/api/v1/tasks", `{"input":"USAGE: count to three","model":"`+model+`"}`, 201, &tk)
	done := s.waitTask(t, tk.ID, bulwark.TaskSucceeded)
	if want := (bulwark.Usage{InputTokens: 2700, OutputTokens: 54, Cost: 0.02}); done.Usage.InputTokens != want.InputTokens ||
		done.Usage.OutputTokens != want.OutputTokens || done.Usage.Cost < 0.0199 || done.Usage.Cost > 0.0201 {
		t.Errorf("GET /api/v1/tasks/%s usage = %+v, want %+v", tk.ID, done.Usage, want)
	}
	if done.Started.IsZero() || done.Finished.Before(done.Started) {
		t.Errorf("the task ran from %v to %v, want both times", done.Started, done.Finished)
	}
	var raw struct{ Tasks []map[string]any }
	s.api(t, "GET", "/api/v1/tasks?limit=200", "", 200, &raw)
	for _, m := range raw.Tasks {
		if _, ok := m["usage"].(map[string]any); !ok {
			t.Errorf("GET /api/v1/tasks: task %v has no usage: %v", m["id"], m)
		}
	}

	b.open(s.URL + "/tasks")
	const row = `[...document.querySelectorAll('table.tasks tbody tr')].find(r => r.innerText.includes('USAGE'))`
	b.wait("the task's row", row)
	cell := func(label string) string {
		return evalJS[string](b, fmt.Sprintf(`%s.querySelector('td[data-label=%q]').innerText.trim()`, row, label))
	}
	if got := cell("Tokens"); got != "2,754" {
		t.Errorf("the Tokens column reads %q, want 2,754", got)
	}
	if got := cell("Cost"); got != "$0.02" {
		t.Errorf("the Cost column reads %q, want $0.02", got)
	}
	if got := cell("Time"); got == "" || got == "—" {
		t.Errorf("the Time column reads %q, want how long the task ran", got)
	}
	if got := cell("Model"); got != model {
		t.Errorf("the Model column reads %q, want %q", got, model)
	}
	// Squeezed, the model name would break mid-word if the cell let it.
	b.do(chromedp.EmulateViewport(760, 900))
	b.wait("the narrow list", `document.documentElement.clientWidth <= 760`)
	if w := b.wrapped("table.tasks td.model"); len(w) > 0 {
		t.Errorf("model names break across lines: %q", w)
	}
	if ws := evalJS[string](b, `getComputedStyle(`+row+`.querySelector('td.model')).whiteSpace`); ws != "nowrap" {
		t.Errorf("the model cell's white-space is %q, want nowrap", ws)
	}
	b.shot("task-list-usage")
	b.do(chromedp.EmulateReset(), chromedp.EmulateViewport(1280, 900))
}

// testAnswerOnce finishes a task and finds its answer once on its page:
// in the task's end, not again in the finish call or its result.
func testAnswerOnce(t *testing.T, b *browser, s *e2eServer) {
	const answer = "The distinctive answer 4711."
	id := startTask(t, b, s, "ONCE: answer once")
	b.wait("the end", `document.querySelector('.finish.ok')`)
	s.waitTask(t, id, bulwark.TaskSucceeded)
	for _, prop := range []string{"innerText", "textContent"} {
		text := evalJS[string](b, `document.querySelector('main').`+prop)
		if n := strings.Count(text, answer); n != 1 {
			t.Errorf("the task page holds the answer %d times in its %s, want once:\n%s", n, prop, text)
		}
	}
	if got := b.text(".finish .text"); got != answer {
		t.Errorf("the task's end reads %q, want the answer", got)
	}
	b.open(s.URL + "/tasks/" + id) // from the stored events, as after a reload
	b.wait("the end", `document.querySelector('.finish.ok')`)
	if n := strings.Count(evalJS[string](b, `document.querySelector('main').textContent`), answer); n != 1 {
		t.Errorf("reloaded, the task page holds the answer %d times, want once", n)
	}
	b.shotViewport("answer-once")
}

// testPendingMessage sends a message to a running task and sees it on the
// page at once, before the server has answered, marked as pending.
func testPendingMessage(t *testing.T, b *browser, s *e2eServer) {
	id := startTask(t, b, s, "HANG: wait for a message")
	b.wait("the running status", `document.querySelector('.task-head .badge').innerText === 'running'`)
	shown := evalJS[string](b, `(() => {
		const ta = document.querySelector('.message-box textarea');
		ta.value = 'look at the second file first';
		document.querySelector('.message-box').requestSubmit();
		const p = document.querySelector('.msg.user.pending');
		return p ? p.innerText : '';
	})()`)
	if !strings.Contains(shown, "look at the second file first") {
		t.Errorf("right after sending, the page shows %q, want the message as pending", shown)
	}
	b.wait("the message accepted", `document.querySelector('.message-box textarea').value === ''`)
	if got := b.text(".message-box .errors"); got != "" {
		t.Errorf("sending the message shows %q", got)
	}
	b.wait("the message on the page", `[...document.querySelectorAll('.msg.user')].some(m => m.innerText.includes('look at the second file first'))`)
	b.shotViewport("pending-message")
	s.api(t, "POST", "/api/v1/tasks/"+id+"/cancel", "", 202, nil)
	s.waitTask(t, id, bulwark.TaskCanceled)
}

// testSettingsDefaults finds, in each empty settings field, the value it
// stands for on this server.
func testSettingsDefaults(t *testing.T, b *browser, s *e2eServer) {
	b.open(s.URL + "/settings")
	b.wait("the settings form", `document.querySelector('form.settings')`)
	fields := map[string]string{
		"Max steps":                 "50",
		"Max tokens":                "2000000",
		"Max time (minutes)":        "30",
		"Max tool output (bytes)":   "16384",
		"Max cost (USD)":            "100",
		"Tasks at once":             "4",
		"Requests/s per key":        "10",
		"Requests/s for the tenant": "50",
		"Burst":                     "50",
	}
	for label, want := range fields {
		got := evalJS[[]string](b, fmt.Sprintf(`(() => {
			const l = [...document.querySelectorAll('form.settings label')].find(l => l.innerText.trim() === %q);
			const input = l && document.getElementById(l.htmlFor);
			const help = input && document.getElementById(input.id + '-help');
			return input ? [input.value, input.placeholder, help ? help.innerText : ''] : [];
		})()`, label))
		if len(got) != 3 {
			t.Errorf("no settings field %q", label)
			continue
		}
		if got[0] != "" {
			continue // set by an earlier step: its default is not shown
		}
		if got[1] != want+" (default)" || !strings.Contains(got[2], "Empty: "+want+", the default.") {
			t.Errorf("the empty field %q shows placeholder %q and help %q, want its default %s", label, got[1], got[2], want)
		}
	}
	if got := b.text("form.settings select option[value='']"); got != "allow (the default)" {
		t.Errorf("the policy's empty choice reads %q", got)
	}
	// The taint mode: the server's (detected here), or a stricter one;
	// off is weaker and not offered.
	taint := evalJS[[]string](b, `(() => {
		const l = [...document.querySelectorAll('form.settings label')].find(l => l.innerText.trim() === 'What taints a task');
		const sel = l && document.getElementById(l.htmlFor);
		return sel ? [...sel.options].map(o => o.value + '=' + o.text.split(':')[0]) : [];
	})()`)
	if strings.Join(taint, ",") != "=the server's,detected=detected,source=source" {
		t.Errorf("the taint choices are %q", taint)
	}
	b.shot("settings-defaults")
}

// testSecretsPage sets, lists, replaces and deletes a secret on the
// secrets page: the value is never shown, never in the page's DOM and
// never in an answer to a GET.
func testSecretsPage(t *testing.T, b *browser, s *e2eServer) {
	const (
		name   = "E2E_TOKEN"
		value  = "first-secret-value-e2e-0001"
		value2 = "second-secret-value-e2e-0002"
	)
	ctx := context.Background()
	b.open(s.URL + "/secrets")
	b.wait("the list", `document.querySelector('main table.secrets, main .empty')`)
	b.typeInto("form.new-secret input[name=name]", name)
	b.typeInto("form.new-secret input[name=value]", value)
	b.typeInto("form.new-secret textarea[name=hosts]", "api.example.com")
	b.click("form.new-secret input[name=inject-body]")
	b.click("form.new-secret button[type=submit]")
	b.wait("the secret in the list", fmt.Sprintf(`document.querySelector('table.secrets tr[data-name=%q]')`, name))
	row := fmt.Sprintf(`table.secrets tr[data-name=%q]`, name)
	if got := b.text(row + " td.hosts"); got != "api.example.com" {
		t.Errorf("the secret's hosts read %q", got)
	}
	if got := b.text(row + " td.inject"); got != "headers, body" {
		t.Errorf("the secret's places read %q, want headers, body", got)
	}
	if all, err := s.db.Secrets(ctx, s.tenant); err != nil || !slices.ContainsFunc(all, func(x bulwark.Secret) bool { return x.Name == name && x.Inject.Body && !x.Inject.URL }) {
		t.Errorf("stored secrets: %v; want %s with the body ticked, not the URL", err, name)
	}
	if v := evalJS[string](b, `document.querySelector('form.new-secret input[name=value]').value`); v != "" {
		t.Errorf("after setting it, the value field still holds %q", v)
	}
	noValue := func(where string, values ...string) {
		t.Helper()
		html := evalJS[string](b, `document.documentElement.outerHTML + [...document.querySelectorAll('input, textarea')].map(e => e.value).join('\n')`)
		gets := evalJS[string](b, `(async () => {
			const paths = ['/api/v1/secrets', '/api/v1/settings', '/api/v1/me', '/api/v1/audit?order=desc&limit=500', '/api/v1/tasks'];
			const bodies = await Promise.all(paths.map(p => fetch(p, {credentials: 'same-origin'}).then(r => r.text())));
			return bodies.join('\n');
		})()`, chromedp.EvalAwaitPromise)
		for _, v := range values {
			if strings.Contains(html, v) {
				t.Errorf("%s: the page holds the secret's value %q", where, v)
			}
			if strings.Contains(gets, v) {
				t.Errorf("%s: a GET answer holds the secret's value %q", where, v)
			}
		}
	}
	noValue("after setting", value)
	if got, _ := s.db.SecretValues(ctx, s.tenant); got[name] != value {
		t.Errorf("the stored value is %q, want what was typed", got[name])
	}
	b.shot("secrets")

	b.clickText(row+" button", "Replace")
	b.typeInto(row+" form.replace input[type=password]", value2)
	b.setValue(row+" form.replace textarea", "api.example.com\n*.example.org")
	b.click(row + " form.replace button[type=submit]")
	b.wait("the new hosts", fmt.Sprintf(`(document.querySelector('%s td.hosts') || {innerText: ''}).innerText.includes('*.example.org')`, row))
	if got, _ := s.db.SecretValues(ctx, s.tenant); got[name] != value2 {
		t.Errorf("after replacing, the stored value is %q, want the new one", got[name])
	}
	noValue("after replacing", value, value2)
	var listed struct {
		Secrets []map[string]any `json:"secrets"`
	}
	s.api(t, "GET", "/api/v1/secrets", "", 200, &listed)
	for _, sec := range listed.Secrets {
		if _, ok := sec["value"]; ok {
			t.Errorf("GET /api/v1/secrets lists a value: %v", sec)
		}
	}

	b.clickText(row+" button", "Delete")
	b.clickText(row+" button", "Click again to delete")
	b.wait("the secret to go", fmt.Sprintf(`!document.querySelector('table.secrets tr[data-name=%q]')`, name))
	if got, _ := s.db.SecretValues(ctx, s.tenant); got[name] != "" {
		t.Errorf("after deleting, the secret is still stored")
	}
}

// testAuditNames reads the audit page: newest record first, people by
// their email and keys by their name, and no identifier broken across
// lines even in a narrow window.
func testAuditNames(t *testing.T, b *browser, s *e2eServer) {
	b.open(s.URL + "/audit")
	b.wait("audit records", `document.querySelectorAll('table.audit tbody tr').length > 5`)
	seqs := evalJS[[]int](b, `[...document.querySelectorAll('table.audit tbody tr td:first-child')].map(e => Number(e.innerText))`)
	for i := 1; i < len(seqs); i++ {
		if seqs[i] >= seqs[i-1] {
			t.Fatalf("the audit records are not newest first: %v", seqs)
		}
	}
	var head struct {
		Records []struct{ Seq uint64 }
	}
	s.api(t, "GET", "/api/v1/audit?limit=500", "", 200, &head)
	if n := len(head.Records); n == 0 || uint64(seqs[0]) != head.Records[n-1].Seq {
		t.Errorf("the first record shown is #%d, want the newest", seqs[0])
	}
	actors := b.text("table.audit tbody")
	for _, want := range []string{testEmail, "key e2e"} {
		if !strings.Contains(actors, want) {
			t.Errorf("the audit page does not name %q among its actors", want)
		}
	}
	if n := evalJS[int](b, `[...document.querySelectorAll('table.audit td.actor')].filter(td => /^(user|key):/.test(td.innerText.trim())).length`); n > 0 {
		t.Errorf("%d actors of this tenant are shown by raw id only", n)
	}
	b.do(chromedp.EmulateViewport(900, 900))
	b.wait("the narrow page", `document.documentElement.clientWidth <= 900`)
	if w := b.wrapped("table.audit .id, table.audit td.mono"); len(w) > 0 {
		t.Errorf("identifiers break across lines: %q", w)
	}
	b.shotViewport("audit-names")
	b.do(chromedp.EmulateReset(), chromedp.EmulateViewport(1280, 900))
}

// resultText is the whole text of the first call's result, folded or
// not: a long result shows as a count of its lines until it is opened.
func resultText(b *browser) string {
	b.t.Helper()
	return evalJS[string](b, `(document.querySelector('.call .result') || {textContent: ''}).textContent`)
}

// testRunningCommand watches a command run: marked running, with the time
// it has run, until its output comes; then cancels a task while its
// command runs and finds what the command printed kept as its result.
func testRunningCommand(t *testing.T, b *browser, s *e2eServer) {
	id := startTask(t, b, s, "SLOW: run the slow job")
	b.wait("the running mark", `[...document.querySelectorAll('.call .badge.running')].some(e => /running… \d/.test(e.innerText))`)
	b.shotViewport("command-running")
	b.wait("the end", `document.querySelector('.finish.ok')`)
	if evalJS[bool](b, `!!document.querySelector('.badge.running')`) {
		t.Error("the command still shows as running after its result came")
	}
	if got := resultText(b); !strings.Contains(got, "second line") {
		t.Errorf("the command's result reads %q, want its output", got)
	}
	s.waitTask(t, id, bulwark.TaskSucceeded)

	// A command's first line shows while it runs, under its call; it
	// goes on only once the page showed it. Its result replaces it.
	id = startTask(t, b, s, "STREAM: run the gated job")
	b.wait("the first line, live", `[...document.querySelectorAll('.call .live-output')].some(e => e.innerText.includes('first line'))`)
	if !evalJS[bool](b, `!!document.querySelector('.call .badge.running')`) || evalJS[bool](b, `!!document.querySelector('.call .result')`) {
		t.Error("the live output shows, but not on a call still running")
	}
	b.shotViewport("command-output-live")
	s.gate <- struct{}{}
	b.wait("the end", `document.querySelector('.finish.ok')`)
	if evalJS[bool](b, `!!document.querySelector('.live-output')`) {
		t.Error("the live output stays after the command's result came")
	}
	if got := resultText(b); !strings.Contains(got, "second line") {
		t.Errorf("the command's result reads %q, want its whole output", got)
	}
	s.waitTask(t, id, bulwark.TaskSucceeded)

	id = startTask(t, b, s, "FOREVER: run until canceled")
	b.wait("the running mark and the first line", `document.querySelector('.call .badge.running') && document.querySelector('.call .live-output')`)
	b.clickText(".cancel-box button", "Cancel task")
	b.clickText(".cancel-box button", "Yes, cancel it")
	b.wait("the end", `document.querySelector('.finish.bad')`)
	b.wait("the kept output", `(document.querySelector('.call .result') || {innerText: ''}).innerText.includes('first line')`)
	if got := b.text(".call .result"); !strings.Contains(got, "canceled") {
		t.Errorf("the canceled command's result reads %q, want it marked canceled", got)
	}
	if evalJS[bool](b, `!!document.querySelector('.badge.running')`) {
		t.Error("the canceled command still shows as running")
	}
	b.shotViewport("command-canceled")
	s.waitTask(t, id, bulwark.TaskCanceled)
	b.open(s.URL + "/tasks/" + id) // from the stored events
	b.wait("the kept output, stored", `(document.querySelector('.call .result') || {innerText: ''}).innerText.includes('first line')`)
}
