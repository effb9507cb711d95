package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/mcpclient"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/workspace"
)

func writeSkillDir(t *testing.T, root, name, front, body string) {
	t.Helper()
	d := filepath.Join(root, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "SKILL.md"), []byte("---\n"+front+"\n---\n"+body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunSkills: bulwark run --skills offers the folder's skills (with
// BULWARK_SKILLS_DIR's), load_skill reads one, and a skill that does not
// parse fails the run as bad usage, naming it, before a task is stored.
func TestRunSkills(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	one, two := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	writeSkillDir(t, one, "greeting", "name: greeting\ndescription: How we greet people.", "SAY-HELLO-WARMLY")
	writeSkillDir(t, two, "farewell", "name: farewell\ndescription: How we say goodbye.", "WAVE-GOODBYE")
	script := writeScript(t, dir, [2]string{"load_skill", `{"name": "greeting"}`}, [2]string{"load_skill", `{"name": "farewell"}`})
	r := runBulwark(t, []string{"BULWARK_DATA=" + data, "BULWARK_SKILLS_DIR=" + two}, "run", "--skills", one, "--json", "--model", "replay:"+script,
		"--workspace", filepath.Join(dir, "ws"), "greet")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	res := toolResults(t, r.stdout)
	if got := strings.Join(res["load_skill"], "\n"); !strings.Contains(got, "SAY-HELLO-WARMLY") || !strings.Contains(got, "WAVE-GOODBYE") {
		t.Errorf("load_skill results = %q", got)
	}

	bad := filepath.Join(dir, "bad")
	writeSkillDir(t, bad, "broken", "name: broken", "no description")
	r = runBulwark(t, []string{"BULWARK_DATA=" + data}, "run", "--skills", bad, "--model", "replay:"+script, "hello")
	if r.code != exitUsage || !strings.Contains(r.stderr, "broken") || !strings.Contains(r.stderr, "description") {
		t.Errorf("a bad skill: exit %d, stderr %q; want bad usage naming it", r.code, r.stderr)
	}
}

func storedSkill(name, desc, body string) bulwark.StoredSkill {
	return bulwark.StoredSkill{Name: name, Description: desc,
		Files: map[string]string{"SKILL.md": "---\nname: " + name + "\ndescription: " + desc + "\n---\n" + body}}
}

// TestServerTaskSkills: a server task is offered the operator's skills
// and its tenant's, the tenant's marked as such; the operator's wins a
// name both have; a stored skill that no longer parses fails the task,
// naming it.
func TestServerTaskSkills(t *testing.T) {
	dir := t.TempDir()
	writeSkillDir(t, dir, "house-style", "name: house-style\ndescription: The operator's style.", "OPERATOR-BODY")
	ops, err := operatorSkills([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ctx := context.Background()
	task := bulwark.Task{ID: "t_1", TenantID: "tn_1"}
	store := fakeTaskStore{settings: bulwark.Settings{Model: "openai:gpt-test"}, secrets: map[string]string{bulwark.ModelAPIKeySecret: "sk-x"},
		skills: []bulwark.StoredSkill{storedSkill("house-style", "The tenant's style.", "TENANT-BODY"), storedSkill("runbook", "Our runbook.", "RUNBOOK-BODY")}}
	setup, err := prepareTask(store, "", tenantLimits{}, false, nil, mcpclient.Config{}, ops, injectionSettings{})(ctx, task, ws)
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	for _, want := range []string{"house-style: The operator's style.", "runbook: Our runbook.", "not by the operator"} {
		if !strings.Contains(setup.Instructions, want) {
			t.Errorf("the instructions lack %q:\n%s", want, setup.Instructions)
		}
	}
	for _, never := range []string{"The tenant's style.", "OPERATOR-BODY", "TENANT-BODY", "RUNBOOK-BODY"} {
		if strings.Contains(setup.Instructions, never) {
			t.Errorf("the instructions hold %q", never)
		}
	}
	if _, ok := setup.Tools.Get("load_skill"); !ok {
		t.Error("no load_skill")
	}
	res, err := setup.Tools.Call(ctx, &tool.Env{}, "load_skill", json.RawMessage(`{"name":"house-style"}`))
	if err != nil || !strings.Contains(res.Output, "OPERATOR-BODY") {
		t.Errorf("load_skill house-style = %q, %v; want the operator's", res.Output, err)
	}

	store.skills = []bulwark.StoredSkill{{Name: "broken", Files: map[string]string{"SKILL.md": "no front matter"}}}
	if _, err := prepareTask(store, "", tenantLimits{}, false, nil, mcpclient.Config{}, ops, injectionSettings{})(ctx, task, ws); err == nil || !strings.Contains(bulwark.ErrorMessage(err), "broken") {
		t.Errorf("a broken stored skill: %v, want an error naming it", err)
	}
}
