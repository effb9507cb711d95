package taskenv

import (
	"context"
	"log/slog"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/metrics"
	"github.com/bulwark-agents/bulwark/tool/memory"
)

// addMemory gives the task remember, recall and forget over o.Memory, as
// o.User, masked by the task's redactor; what they do is audited (the
// memory's id, never its text).
func (e *Env) addMemory(o Options) {
	c := memory.Config{Store: o.Memory, Tenant: bulwark.TenantID(o.Tenant), User: o.User, TaskID: o.TaskID, Mask: e.Mask}
	if o.Audit != nil {
		c.Audit = func(ctx context.Context, action, id string) {
			r := audit.Record{TenantID: o.Tenant, Actor: "task:" + o.TaskID, Action: action, Target: id, Outcome: audit.OutcomeOK,
				Details: map[string]string{"task": o.TaskID}}
			if err := o.Audit.Append(ctx, r); err != nil {
				metrics.Security.Inc(metrics.AuditFailure)
				slog.Error("audit record not written", "task", o.TaskID, "action", action, "err", err)
			}
		}
	}
	for _, t := range memory.Tools(c) {
		e.Tools.Add(t)
	}
}
