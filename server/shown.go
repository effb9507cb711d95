package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// What a task stored is masked as it was stored, with the tenant's
// secrets of that moment: the runtime masks every event before it keeps
// it, and the task's answer with them. A secret added later (a key noticed
// in a task's output, then registered) would stay readable in what was
// stored before it. So a task, its events, its approvals and a
// schedule's input are masked again as they are shown, by every route
// that shows them (the API, its event stream, the Agent Protocol, the MCP
// server), with the tenant's secrets as they are now (TenantRedactors: at
// the next request, whichever node or process made the change; an open
// event stream within streamVersionEvery of its next event).
//
// Masking again is not charged as a masked answer (chargeMasked): it
// changes only what was stored before the secret existed, which the
// runtime masked then with the secrets of that time. A caller who wrote a
// guess into a task learned at once whether it was a secret's value; what
// was stored before a secret was added, its readers saw before. Charging
// would only refuse a task's page to its members, again and again, once
// they registered a value its output held.

// shownEvents masks the tenant's secrets out of evs, in place. When they
// cannot be read, the error is returned: the events must not be shown.
func (s *Server) shownEvents(ctx context.Context, tenant bulwark.TenantID, evs []bulwark.Event) error {
	red, err := s.red.For(ctx, tenant)
	if err != nil {
		return err
	}
	for i := range evs {
		evs[i].Mask(red.String)
	}
	return nil
}

// shownTasks masks the tenant's secrets out of ts, in place, as
// shownEvents does.
func (s *Server) shownTasks(ctx context.Context, tenant bulwark.TenantID, ts ...*bulwark.Task) error {
	red, err := s.red.For(ctx, tenant)
	if err != nil {
		return err
	}
	for _, t := range ts {
		t.Mask(red.String)
	}
	return nil
}

// shownSchedules masks the tenant's secrets out of the inputs of scs, in
// place: a schedule's input is masked as it is saved (checkTask), and its
// runs' tasks as they start (the agent masks its input), but one saved
// before a secret it holds was added is shown as it was saved.
func (s *Server) shownSchedules(ctx context.Context, tenant bulwark.TenantID, scs []bulwark.Schedule) error {
	red, err := s.red.For(ctx, tenant)
	if err != nil {
		return err
	}
	for i := range scs {
		scs[i].Input = red.String(scs[i].Input)
	}
	return nil
}

// shownApprovals masks the tenant's secrets out of aps, in place.
func (s *Server) shownApprovals(ctx context.Context, tenant bulwark.TenantID, aps []bulwark.Approval) error {
	red, err := s.red.For(ctx, tenant)
	if err != nil {
		return err
	}
	for i := range aps {
		aps[i].Target = red.String(aps[i].Target)
		aps[i].Reason = red.String(aps[i].Reason)
		if a := red.String(string(aps[i].Args)); a != string(aps[i].Args) {
			aps[i].Args = json.RawMessage(a)
		}
	}
	return nil
}

// storedEvents is the store's events of a task, masked (shownEvents).
func (s *Server) storedEvents(ctx context.Context, tenant bulwark.TenantID, id string, after int64, limit int) ([]bulwark.Event, error) {
	evs, err := s.store.Events(ctx, tenant, id, after, limit)
	if err != nil {
		return nil, err
	}
	if err := s.shownEvents(ctx, tenant, evs); err != nil {
		return nil, err
	}
	return evs, nil
}

// streamVersionEvery is how often an event stream reads the store's
// version again (TenantRedactors), at most: once per event that came
// after that long.
const streamVersionEvery = 2 * time.Second

// subscribe is the runtime's stream of a task's events, each masked as it
// is passed on (shownEvents). The stream ends as the runtime's does, when
// ctx ends, or at an event that cannot be masked (the tenant's secrets
// unreadable): the event is not passed on, and a client resumes after the
// last one it got.
func (s *Server) subscribe(ctx context.Context, rt Runtime, tenant bulwark.TenantID, id string, after int64) (<-chan bulwark.Event, error) {
	in, err := rt.Subscribe(ctx, tenant, id, after)
	if err != nil {
		return nil, err
	}
	out := make(chan bulwark.Event, cap(in))
	p, _ := PrincipalFrom(ctx)
	seen, read := p.seen, time.Now()
	go func() {
		defer close(out)
		for e := range in {
			// A stream outlives the version its request read: read it
			// again now and then, so that a secret added on another
			// node is masked within streamVersionEvery.
			if now := time.Now(); now.Sub(read) >= streamVersionEvery {
				seen, read = s.auth.seen(ctx), now
			}
			red, err := s.red.forSeen(ctx, tenant, seen)
			if err != nil {
				s.log.Error("the tenant's secrets cannot be read to mask a task's events: the stream ends", "task", id, "err", err)
				return
			}
			e.Mask(red.String)
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
