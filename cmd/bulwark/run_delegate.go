package main

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/metrics"
)

// maxAgentDepth reads BULWARK_MAX_AGENT_DEPTH: how many levels of
// sub-agents (the delegate tool) a task may have below it; 0 allows none.
func maxAgentDepth() (int, error) {
	s := strings.TrimSpace(env("BULWARK_MAX_AGENT_DEPTH"))
	if s == "" {
		return agent.DefaultMaxDepth, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 10 {
		return 0, usagef("BULWARK_MAX_AGENT_DEPTH=%q: want a whole number from 0 to 10", s)
	}
	return n, nil
}

// runnerDepth is depth as runner.Config.MaxAgentDepth takes it.
func runnerDepth(depth int) int {
	if depth == 0 {
		return -1
	}
	return depth
}

// cliDelegation starts the sub-agents of a `bulwark run` task: each is a
// task of the store, its events stored and audited like its parent's,
// and shown in the terminal indented under the call that started it
// (in --json, as its own task_id's lines). Approvals and questions go to
// the same terminal as the parent's (the child keeps its Config's).
func cliDelegation(db bulwark.TaskStore, tenant bulwark.TenantID, depth int, auditLog *audit.Chains, out io.Writer, json bool, stop func(error)) *agent.Delegation {
	if depth == 0 {
		return nil
	}
	return &agent.Delegation{MaxDepth: depth, Start: func(ctx context.Context, t bulwark.Task, cfg agent.Config) (agent.Child, error) {
		t, err := db.CreateTask(ctx, tenant, t)
		if err != nil {
			return agent.Child{}, err
		}
		rec := bulwark.NewRecorder(ctx, db, tenant, t.ID)
		sinks := []agent.Sink{func(e bulwark.Event) {
			rec.Record(e)
			if err := rec.Err(); err != nil {
				stop(err)
			}
		}, metrics.CountEvent}
		if auditLog != nil {
			auditor := &audit.TaskAuditor{Log: auditLog, Tenant: string(tenant), Actor: "cli", OnError: stop}
			sinks = append(sinks, auditor.Sink)
		}
		if json {
			sinks = append(sinks, jsonView(out))
		} else {
			level := 1
			if cfg.Delegation != nil {
				level = cfg.Delegation.Depth
			}
			sinks = append(sinks, newTermView(&indented{w: out, prefix: strings.Repeat("    │ ", level)}).show)
		}
		cfg.Sink = agent.Tee(sinks...)
		return agent.Child{Task: t, Config: cfg}, nil
	}}
}

// indented writes to w with prefix at the start of each line.
type indented struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	mid    bool // the last write ended mid-line
}

func (iw *indented) Write(p []byte) (int, error) {
	iw.mu.Lock()
	defer iw.mu.Unlock()
	var b bytes.Buffer
	for _, line := range bytes.SplitAfter(p, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if !iw.mid {
			b.WriteString(iw.prefix)
		}
		b.Write(line)
		iw.mid = line[len(line)-1] != '\n'
	}
	if _, err := iw.w.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}
