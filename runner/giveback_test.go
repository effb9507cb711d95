package runner

import (
	"context"
	"sync"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/queue"
)

// oneTask is a store that knows one task (only Task is called here).
type oneTask struct {
	Store
	task bulwark.Task
}

func (s oneTask) Task(ctx context.Context, tenant bulwark.TenantID, id string) (bulwark.Task, error) {
	return s.task, nil
}

// sentControls records the control requests stored (only SendControl is
// called here).
type sentControls struct {
	bulwark.ControlStore
	mu   sync.Mutex
	sent []bulwark.ControlRequest
}

func (s *sentControls) SendControl(ctx context.Context, tenant bulwark.TenantID, r bulwark.ControlRequest) (bulwark.ControlRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, r)
	return r, nil
}

// running is a queue on which every task runs (Remove finds none queued).
type running struct{ queue.Queue }

func (running) Remove(context.Context, bulwark.TenantID, string) (bool, error) { return false, nil }

// A request that the poll took for a run that then gave its task back to
// a cluster's queue (its set-up failed), and that reaches the run's live
// state before it is dropped, is stored again for the next run. It went
// to the live state, which no run read any more: a cancel was lost, and
// the task failed once its tries were spent. In process, the live state
// waits for the next run, and takes it.
func TestRequestAfterGiveBack(t *testing.T) {
	task := bulwark.Task{ID: "t_1", TenantID: "ten_a", Status: bulwark.TaskQueued, Turns: 2}
	for _, inProcess := range []bool{false, true} {
		for _, kind := range []bulwark.ControlKind{bulwark.ControlCancel, bulwark.ControlMessage} {
			controls := &sentControls{}
			rt := &Runtime{cfg: Config{Store: oneTask{task: task}, Controls: controls}, queue: running{}, tasks: map[key]*live{}}
			if inProcess {
				rt.sched = &sched{}
			}
			l := newLive(task)
			l.cancel = func(error) {} // its run holds it: the poll takes its requests
			rt.tasks[key{"ten_a", "t_1"}] = l
			ctx := context.Background()
			rt.giveBack(ctx, l)
			r := bulwark.ControlRequest{ID: "ctl_1", TenantID: "ten_a", TaskID: "t_1", Turn: 2, Kind: kind, Actor: "user:1", Text: "stop"}
			if err := rt.carryOut(ctx, r); err != nil {
				t.Errorf("in process %v, %s: carryOut = %v", inProcess, kind, err)
			}
			l.mu.Lock()
			canceled := l.canceled
			l.mu.Unlock()
			kept := canceled || len(l.inbox) > 0
			switch {
			case inProcess && (!kept || len(controls.sent) != 0):
				t.Errorf("in process, %s: kept by the live state %v, stored %v; want kept for the next run", kind, kept, controls.sent)
			case !inProcess && (kept || len(controls.sent) != 1):
				t.Errorf("%s: kept by the dropped live state %v, stored %v; want stored again", kind, kept, controls.sent)
			case !inProcess && (controls.sent[0].ID != "" || controls.sent[0].Turn != 2 || controls.sent[0].Kind != kind):
				t.Errorf("%s: stored %+v, want it again, for turn 2", kind, controls.sent[0])
			}
		}
	}
}
