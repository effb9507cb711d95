package bulwark_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// taskStore is a bulwark.TaskStore whose AppendEvent is a function field.
type taskStore struct {
	bulwark.TaskStore
	AppendEventFn func(ctx context.Context, tenant bulwark.TenantID, e bulwark.Event) error
}

func (s taskStore) AppendEvent(ctx context.Context, tenant bulwark.TenantID, e bulwark.Event) error {
	return s.AppendEventFn(ctx, tenant, e)
}

var _ bulwark.TaskStore = taskStore{}

func TestRecorder(t *testing.T) {
	var got []bulwark.Event
	fail := errors.New("disk full")
	store := taskStore{AppendEventFn: func(ctx context.Context, tenant bulwark.TenantID, e bulwark.Event) error {
		if ctx.Err() != nil {
			t.Errorf("AppendEvent got a canceled context")
		}
		if tenant != "tn_1" {
			t.Errorf("AppendEvent tenant %q, want tn_1", tenant)
		}
		got = append(got, e)
		if e.Seq == 3 {
			return fail
		}
		return nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	rec := bulwark.NewRecorder(ctx, store, "tn_1", "t_1")
	cancel() // the last events of a canceled task are still stored
	for i, typ := range []bulwark.EventType{bulwark.EventTaskStarted, bulwark.EventModelDelta, bulwark.EventModelText, bulwark.EventTaskFinished} {
		rec.Record(bulwark.Event{Seq: int64(i + 1), Type: typ})
	}
	if len(got) != 3 || got[0].Seq != 1 || got[1].Seq != 3 || got[2].Seq != 4 || got[2].TaskID != "t_1" {
		t.Errorf("stored %+v, want seqs 1, 3, 4 of task t_1 (no model_delta)", got)
	}
	if err := rec.Err(); !errors.Is(err, fail) {
		t.Errorf("Err() = %v, want the first failure", err)
	}
}

var tenantIDTests = []struct {
	id bulwark.TenantID
	ok bool
}{
	{"", false},
	{"tn_0123456789abcdef", true},
	{"local", true},
	{bulwark.TenantID(make([]byte, 200)), false},
	{"\xff", false},
}

func TestTenantIDCheck(t *testing.T) {
	for _, tc := range tenantIDTests {
		err := tc.id.Check("test")
		if (err == nil) != tc.ok || err != nil && bulwark.ErrorKind(err) != bulwark.Invalid {
			t.Errorf("TenantID(%q).Check() = %v, want ok=%v", tc.id, err, tc.ok)
		}
	}
}
