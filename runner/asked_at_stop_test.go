package runner

import (
	"context"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// takenControls hands its requests to the first TakeControls, and
// records those stored (sentControls).
type takenControls struct {
	*sentControls
	take []bulwark.ControlRequest
}

func (s *takenControls) TakeControls(context.Context, []bulwark.TaskRef) ([]bulwark.ControlRequest, error) {
	rs := s.take
	s.take = nil
	return rs, nil
}

// What a resumed run takes from the store as it asks again (an answer, a
// message), at the moment its node stops it, is stored again for the run
// that goes on, the answer still an answer (its EventSeq). It was
// dropped: the stopping node had taken it, and no run had it.
func TestTakenAsAStoppedRunAsksAgain(t *testing.T) {
	task := bulwark.Task{ID: "t_1", TenantID: "ten_a", Status: bulwark.TaskRunning, Turns: 2}
	for _, question := range []bool{false, true} {
		answer := bulwark.ControlRequest{ID: "ctl_1", TenantID: "ten_a", TaskID: "t_1", Turn: 2, Kind: bulwark.ControlAnswer, Actor: "user:1", ApprovalID: "ap_1", Allow: true, EventSeq: 7}
		if question {
			answer = bulwark.ControlRequest{ID: "ctl_1", TenantID: "ten_a", TaskID: "t_1", Turn: 2, Kind: bulwark.ControlMessage, Text: "blue", EventSeq: 7}
		}
		message := bulwark.ControlRequest{ID: "ctl_2", TenantID: "ten_a", TaskID: "t_1", Turn: 2, Kind: bulwark.ControlMessage, Text: "green", EventSeq: 8}
		sent := &sentControls{}
		rt := &Runtime{cfg: Config{Store: waitingStore{oneTask{task: task}}, Controls: &takenControls{sentControls: sent, take: []bulwark.ControlRequest{answer, message}}},
			queue: running{}, tasks: map[key]*live{}}
		l := newLive(task)
		l.cancel = func(error) {}
		l.wait = waitState{rewait: true}
		l.asked = 5
		rt.tasks[key{"ten_a", "t_1"}] = l
		ctx, stop := context.WithCancelCause(context.Background())
		stop(errShutdown) // its node stops
		var err error
		if question {
			_, err = rt.askOrPark(ctx, l, "which colour?")
		} else {
			_, err = rt.approveOrPark(ctx, l, bulwark.Approval{ID: "ap_1", TaskID: "t_1"})
		}
		if bulwark.ErrorKind(err) != bulwark.Canceled {
			t.Errorf("question %v: asked as the node stops: %v, want canceled", question, err)
		}
		rt.handOver(ctx, l) // the run's end
		if len(sent.sent) != 2 {
			t.Fatalf("question %v: stored again %+v, want the answer and the message", question, sent.sent)
		}
		for i, want := range []bulwark.ControlRequest{answer, message} {
			got := sent.sent[i]
			if got.Kind != want.Kind || got.Text != want.Text || got.ApprovalID != want.ApprovalID || got.Allow != want.Allow || got.EventSeq != want.EventSeq || got.Turn != 2 || got.ID != "" {
				t.Errorf("question %v: stored again %+v, want %+v again, for turn 2", question, got, want)
			}
		}
	}
}
