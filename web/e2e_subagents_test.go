package web_test

import (
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// testSubAgents: a task whose agent delegated shows its sub-agent on its
// page, linked; the sub-agent's page links back to its parent; the
// parent's timeline links to the child where it started.
func testSubAgents(t *testing.T, b *browser, s *e2eServer) {
	var tk bulwark.Task
	s.api(t, "POST", "/api/v1/tasks", `{"input":"DELEGATE: hand a file to a helper"}`, 201, &tk)
	s.waitTask(t, tk.ID, bulwark.TaskSucceeded)
	b.open(s.URL + "/tasks/" + tk.ID)
	b.wait("the sub-agents list", `document.querySelector('.children .child-link')`)
	if got := b.text(".children .child-link"); got != "SUBAGENT: write child.txt" {
		t.Errorf("the sub-agent is listed as %q", got)
	}
	b.wait("the timeline's link to the child", `document.querySelector('.timeline .line .child-link')`)
	b.click(".children .child-link")
	b.wait("the child's page", `location.pathname !== '/tasks/`+tk.ID+`' && document.querySelector('.parent-link')`)
	if got := b.text(".parent-link"); got != tk.ID {
		t.Errorf("the child's page links to %q, want its parent %s", got, tk.ID)
	}
	b.wait("the child's end", `document.querySelector('.finish.ok')`)
	b.open(s.URL + "/tasks")
	b.wait("the sub-agent marked in the task list", `[...document.querySelectorAll('table.tasks tbody tr')].some(r => r.innerText.includes('SUBAGENT') && r.querySelector('.badge.subagent'))`)
	b.noProblems("sub-agent pages")
	b.shotViewport("sub-agent")
}
