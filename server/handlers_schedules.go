package server

import (
	"net/http"
	"strconv"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/schedule"
)

// The schedules API: /api/v1/schedules. A schedule starts a task at each
// tick as its owner, the person (or key) who last created or updated it:
// like the tenant's tasks, any member may change or delete any of its
// schedules, and a change makes the member its owner, so that nobody's
// schedule ever runs under another person's name with input they did not
// write. The scheduler (package schedule) checks the owner's role when it
// fires. Another tenant's schedule is NotFound, as everywhere.

// scheduleRoutes is the table of the schedules API.
func (s *Server) scheduleRoutes() []Route {
	const (
		viewer = bulwark.RoleViewer
		member = bulwark.RoleMember
		side   = BrowserOrAPI
	)
	return []Route{
		{Method: "POST", Pattern: "/api/v1/schedules", Side: side, Role: member, Scope: "tasks", MaxBody: 2 * MaxInputBytes, Handler: s.createSchedule},
		{Method: "GET", Pattern: "/api/v1/schedules", Side: side, Role: viewer, Scope: "tasks", Handler: s.listSchedules},
		{Method: "GET", Pattern: "/api/v1/schedules/{id}", Side: side, Role: viewer, Scope: "tasks", Handler: s.getSchedule},
		{Method: "PUT", Pattern: "/api/v1/schedules/{id}", Side: side, Role: member, Scope: "tasks", MaxBody: 2 * MaxInputBytes, Handler: s.updateSchedule},
		{Method: "DELETE", Pattern: "/api/v1/schedules/{id}", Side: side, Role: member, Scope: "tasks", Handler: s.deleteSchedule},
	}
}

// scheduleRequest is the body of POST /api/v1/schedules and of PUT
// /api/v1/schedules/{id} (which replaces every field).
type scheduleRequest struct {
	Cron     string         `json:"cron"`
	Timezone string         `json:"timezone,omitempty"`
	Input    string         `json:"input"`
	Model    string         `json:"model,omitempty"`
	Limits   *limitsRequest `json:"limits,omitempty"`
	Overlap  bool           `json:"overlap,omitempty"`
}

type schedulesResponse struct {
	Schedules []bulwark.Schedule `json:"schedules"`
}

// schedules returns the store's schedules, or Unavailable when the store
// keeps none.
func (s *Server) schedules() (bulwark.ScheduleStore, error) {
	ss, ok := s.store.(bulwark.ScheduleStore)
	if !ok {
		return nil, bulwark.Errorf(bulwark.Unavailable, "server", "this server does not keep schedules")
	}
	return ss, nil
}

// checkSchedule validates a schedule as a client sends it, exactly as a
// new task's input, model and limits are, and its cron spec and time zone
// (no more often than the operator's minimum interval), and returns it
// with its next run and owner set.
func (s *Server) checkSchedule(r *http.Request, op string, req scheduleRequest) (bulwark.Schedule, error) {
	var sc bulwark.Schedule
	input, err := s.checkTask(r, op, req.Input, req.Model)
	if err != nil {
		return sc, err
	}
	limits, err := req.Limits.check(op, s.cfg.Ceilings)
	if err != nil {
		return sc, err
	}
	p, _ := PrincipalFrom(r.Context())
	if err := s.checkModel(r.Context(), op, p.Tenant, req.Model); err != nil {
		return sc, err
	}
	now := s.now()
	sp, err := schedule.Check(req.Cron, req.Timezone, s.cfg.MinScheduleInterval, now)
	if err != nil {
		return sc, err
	}
	tz := req.Timezone
	if tz == "" {
		tz = "UTC"
	}
	sc = bulwark.Schedule{Cron: req.Cron, Timezone: tz, Input: input, Model: req.Model, Limits: limits, Overlap: req.Overlap,
		OwnerUser: p.RightsUser(), OwnerKey: p.KeyID, NextRun: sp.Next(now)}
	return sc, nil
}

func (s *Server) createSchedule(w http.ResponseWriter, r *http.Request) error {
	const op = "server.createSchedule"
	ss, err := s.schedules()
	if err != nil {
		return err
	}
	var req scheduleRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	sc, err := s.checkSchedule(r, op, req)
	if err != nil {
		return err
	}
	sc, err = ss.CreateSchedule(r.Context(), TenantFrom(r.Context()), sc)
	if err != nil {
		return err
	}
	if err := s.auditSchedule(r, "schedule.create", sc); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, sc)
	return nil
}

// auditSchedule records a change of schedule sc: its spec and the size of
// its input, never the input.
func (s *Server) auditSchedule(r *http.Request, action string, sc bulwark.Schedule) error {
	d := map[string]string{"cron": sc.Cron, "timezone": sc.Timezone}
	if action != "schedule.delete" {
		d["bytes"] = strconv.Itoa(len(sc.Input))
		d["overlap"] = strconv.FormatBool(sc.Overlap)
	}
	return s.audit(r, audit.Record{Action: action, Target: sc.ID, Details: d})
}

func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request) error {
	ss, err := s.schedules()
	if err != nil {
		return err
	}
	list, err := ss.ListSchedules(r.Context(), TenantFrom(r.Context()))
	if err != nil {
		return err
	}
	if err := s.shownSchedules(r.Context(), TenantFrom(r.Context()), list); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, schedulesResponse{Schedules: nonNil(list)})
	return nil
}

func (s *Server) getSchedule(w http.ResponseWriter, r *http.Request) error {
	ss, err := s.schedules()
	if err != nil {
		return err
	}
	sc, err := ss.Schedule(r.Context(), TenantFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	shown := []bulwark.Schedule{sc}
	if err := s.shownSchedules(r.Context(), TenantFrom(r.Context()), shown); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, shown[0])
	return nil
}

func (s *Server) updateSchedule(w http.ResponseWriter, r *http.Request) error {
	const op = "server.updateSchedule"
	ss, err := s.schedules()
	if err != nil {
		return err
	}
	tenant := TenantFrom(r.Context())
	old, err := ss.Schedule(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	var req scheduleRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	sc, err := s.checkSchedule(r, op, req)
	if err != nil {
		return err
	}
	sc.ID = old.ID
	sc, err = ss.UpdateSchedule(r.Context(), tenant, sc)
	if err != nil {
		return err
	}
	if err := s.auditSchedule(r, "schedule.update", sc); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sc)
	return nil
}

func (s *Server) deleteSchedule(w http.ResponseWriter, r *http.Request) error {
	ss, err := s.schedules()
	if err != nil {
		return err
	}
	tenant := TenantFrom(r.Context())
	sc, err := ss.Schedule(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := ss.DeleteSchedule(r.Context(), tenant, sc.ID); err != nil {
		return err
	}
	if err := s.auditSchedule(r, "schedule.delete", sc); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
