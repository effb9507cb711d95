package main

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/mcpclient"
)

// TestServedTaskMasksASecretAddedWhileItRuns: a served task (prepareTask)
// masks a secret put into the store while it runs, as another node or
// `bulwark secrets set` puts it (not through this server), once its
// watcher has read the store's version again, in what its model is sent
// and what it shows (Setup.Mask) and in the process's log.
func TestServedTaskMasksASecretAddedWhileItRuns(t *testing.T) {
	const value = "added-while-running-4d9e2b"
	e := newKeysEnv(t)
	withEnv(t, map[string]string{"OPENAI_BASE_URL": e.srv.URL + "/v1", "BULWARK_SANDBOX": "off"})
	lim, err := readTenantLimits()
	if err != nil {
		t.Fatal(err)
	}
	setup, err := prepareTask(e.db, "", lim, false, nil, mcpclient.Config{}, nil, injectionSettings{})(context.Background(),
		bulwark.Task{ID: "t_watch", TenantID: string(e.own), Model: "openai:m"}, e.ws)
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	if got := setup.Mask("x " + value); got != "x "+value {
		t.Fatalf("before the secret the task masks %q: the test would prove nothing", got)
	}
	if err := e.db.SetSecret(context.Background(), e.own, "LATER", value); err != nil {
		t.Fatal(err)
	}
	for range 1000 { // a hang guard, not a speed assertion
		if setup.Mask("x "+value) == "x [REDACTED:LATER]" && redactor.String(value) != value {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("10 s after the secret was added the running task masks %q, the log %q", setup.Mask("x "+value), redactor.String(value))
}
