package server

import (
	"net/http"
	"strconv"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
)

type usersResponse struct {
	Users []bulwark.User `json:"users"`
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	us, err := s.store.ListUsers(r.Context(), TenantFrom(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, usersResponse{Users: nonNil(us)})
	return nil
}

type createUserRequest struct {
	Email    string       `json:"email"`
	Role     bulwark.Role `json:"role,omitempty"` // default member
	Password string       `json:"password"`
}

// checkGrant returns a PermissionDenied error when caller may not give
// role: nobody grants a role above their own.
func checkGrant(op string, caller, role bulwark.Role) error {
	if !role.Valid() {
		return bulwark.Errorf(bulwark.Invalid, op, "unknown role %q: want viewer, member, admin or owner", role)
	}
	if !caller.AtLeast(role) {
		return bulwark.Errorf(bulwark.PermissionDenied, op, "you cannot give a role higher than yours")
	}
	return nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	const op = "server.createUser"
	p, _ := PrincipalFrom(r.Context())
	var req createUserRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = bulwark.RoleMember
	}
	if err := checkGrant(op, p.Role, req.Role); err != nil {
		return err
	}
	if _, err := bulwark.NormalizeEmail(req.Email); err != nil {
		return err
	}
	if err := CheckPassword(req.Password); err != nil {
		return err
	}
	hash, err := HashPassword(req.Password, s.cfg.Password)
	if err != nil {
		return bulwark.E(bulwark.Internal, op, "", err)
	}
	u, err := s.store.CreateUser(r.Context(), p.Tenant, bulwark.User{Email: req.Email, Role: req.Role}, hash)
	if err != nil {
		return err
	}
	if err := s.audit(r, audit.Record{Action: "user.create", Target: u.ID, Details: map[string]string{"email": u.Email, "role": string(u.Role)}}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, u)
	return nil
}

type patchUserRequest struct {
	Role bulwark.Role `json:"role"`
}

// patchUser changes a user's role. The user's sessions end (a privilege
// change gets a new session id); when users change their own role, their
// new session's cookie comes with the answer.
func (s *Server) patchUser(w http.ResponseWriter, r *http.Request) error {
	const op = "server.patchUser"
	p, _ := PrincipalFrom(r.Context())
	ctx := r.Context()
	var req patchUserRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	target, err := s.store.User(ctx, p.Tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := checkGrant(op, p.Role, req.Role); err != nil {
		return err
	}
	if !p.Role.AtLeast(target.Role) {
		return bulwark.Errorf(bulwark.PermissionDenied, op, "you cannot change the role of a user above you")
	}
	if target.Role == bulwark.RoleOwner && req.Role != bulwark.RoleOwner {
		if err := s.keepAnOwner(r, p.Tenant); err != nil {
			return err
		}
	}
	if target.Role == req.Role {
		writeJSON(w, http.StatusOK, target)
		return nil
	}
	u, err := s.store.SetUserRole(ctx, p.Tenant, target.ID, req.Role)
	if err != nil {
		return err
	}
	n, err := s.store.DeleteUserSessions(ctx, p.Tenant, u.ID)
	if err != nil {
		return err
	}
	if u.ID == p.UserID {
		if _, err := s.startSession(w, r, u); err != nil {
			return err
		}
	}
	if err := s.audit(r, audit.Record{Action: "user.role_change", Target: u.ID,
		Details: map[string]string{"from": string(target.Role), "to": string(u.Role), "sessions_ended": strconv.Itoa(n)}}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// keepAnOwner refuses to demote the tenant's last owner.
func (s *Server) keepAnOwner(r *http.Request, t bulwark.TenantID) error {
	us, err := s.store.ListUsers(r.Context(), t)
	if err != nil {
		return err
	}
	owners := 0
	for _, u := range us {
		if u.Role == bulwark.RoleOwner {
			owners++
		}
	}
	if owners <= 1 {
		return bulwark.Errorf(bulwark.Conflict, "server.patchUser", "this is the tenant's last owner: make another owner first")
	}
	return nil
}
