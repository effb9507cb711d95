package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestMemoriesAPI: a memory made by a user is private to that user unless
// made for the tenant; another user of the tenant gets 404 for it and
// never finds it; ?q= ranks; the taint flag is shown and a person may
// clear it; the tenant's secrets are masked out of memories both ways;
// each change is audited by id, never by text.
func TestMemoriesAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	tn := e.tenant("acme")
	ctx := context.Background()
	if err := e.db.SetSecret(ctx, tn.id, "TOKEN", "tok-value-8c1f2d"); err != nil {
		t.Fatal(err)
	}
	alice, bob := e.login(tn.users[bulwark.RoleOwner].Email), e.login(tn.users[bulwark.RoleMember].Email)
	call := func(cookie, method, path, body string, want int) bulwark.Memory {
		t.Helper()
		w := e.do(req{method: method, path: path, body: body, cookie: cookie})
		if w.Code != want {
			t.Fatalf("%s %s = %d %s, want %d", method, path, w.Code, w.Body, want)
		}
		var m bulwark.Memory
		json.Unmarshal(w.Body.Bytes(), &m)
		return m
	}
	list := func(cookie, q string) []bulwark.Memory {
		t.Helper()
		w := e.do(req{method: "GET", path: "/api/v1/memories?q=" + q, cookie: cookie})
		var out memoriesResponse
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &out) != nil {
			t.Fatalf("list = %d %s", w.Code, w.Body)
		}
		return out.Memories
	}
	priv := call(alice, "POST", "/api/v1/memories", `{"text":"alice's kumquat is in the fridge; token tok-value-8c1f2d","tags":["food"]}`, 201)
	team := call(alice, "POST", "/api/v1/memories", `{"text":"the team kumquat kumquat tree is in the hall","scope":"tenant"}`, 201)
	if priv.User != tn.users[bulwark.RoleOwner].ID || team.User != "" || strings.Contains(priv.Text, "tok-value") {
		t.Fatalf("created %+v and %+v", priv, team)
	}
	if got := list(alice, "kumquat"); len(got) != 2 || got[0].ID != team.ID {
		t.Errorf("alice's search = %+v, want the team's (more kumquats) first", got)
	}
	if got := list(bob, "kumquat"); len(got) != 1 || got[0].ID != team.ID {
		t.Errorf("bob's search = %+v, want the team's only", got)
	}
	if got := list(bob, ""); len(got) != 1 {
		t.Errorf("bob's listing = %+v, want the team's only", got)
	}
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		call(bob, m, "/api/v1/memories/"+priv.ID, `{"text":"x"}`, 404)
	}

	// A task's tainted memory: shown tainted; a person clears it.
	stored, err := e.db.AddMemory(ctx, tn.id, bulwark.Memory{Text: "from a tainted task", Tainted: true, TaskID: "t_1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := call(bob, "GET", "/api/v1/memories/"+stored.ID, "", 200); !got.Tainted || got.TaskID != "t_1" {
		t.Errorf("a tainted memory reads %+v", got)
	}
	if got := call(bob, "PUT", "/api/v1/memories/"+stored.ID, `{"text":"checked by bob"}`, 200); !got.Tainted {
		t.Errorf("an edit cleared the taint unasked: %+v", got)
	}
	if got := call(bob, "PUT", "/api/v1/memories/"+stored.ID, `{"text":"checked by bob","tainted":false}`, 200); got.Tainted {
		t.Errorf("tainted:false did not clear it: %+v", got)
	}
	call(alice, "POST", "/api/v1/memories", `{"text":"x","tainted":true}`, 400)
	call(alice, "POST", "/api/v1/memories", `{"text":"x","scope":"everyone"}`, 400)
	call(alice, "POST", "/api/v1/memories", `{"text":"`+strings.Repeat("x", bulwark.MaxMemoryText+1)+`"}`, 400)
	call(alice, "DELETE", "/api/v1/memories/"+priv.ID, "", 204)
	call(alice, "GET", "/api/v1/memories/"+priv.ID, "", 404)

	for _, action := range []string{"memory.create", "memory.update", "memory.delete"} {
		recs := e.audited(action)
		if len(recs) == 0 {
			t.Errorf("no %s audit record", action)
		}
		for _, r := range recs {
			if b, _ := json.Marshal(r); strings.Contains(string(b), "kumquat") || strings.Contains(string(b), "checked by") {
				t.Errorf("%s record holds the text: %s", action, b)
			}
		}
	}
	if recs := e.audited("memory.update"); len(recs) != 2 || recs[1].Details["taint_cleared"] != "true" {
		t.Errorf("memory.update records = %+v, want the taint cleared in the second", recs)
	}
}
