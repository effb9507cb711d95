package runner

import (
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/queue"
	"github.com/bulwark-agents/bulwark/queue/queuetest"
)

// TestLocalQueue: the in-process queue keeps the promises of every queue
// (one node: it has no cluster).
func TestLocalQueue(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, 1, func(t *testing.T, nodes, workers, quota int) []queue.Queue {
		return []queue.Queue{NewLocalQueue(workers, func(bulwark.TenantID) int { return quota })}
	})
}
