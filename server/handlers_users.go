package server

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/metrics"
)

type usersResponse struct {
	Users []bulwark.User `json:"users"`
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	us, err := s.store.ListUsers(r.Context(), TenantFrom(r.Context()))
	if err != nil {
		return err
	}
	on, err := s.store.TwoFactorUsers(r.Context(), TenantFrom(r.Context()))
	if err != nil {
		return err
	}
	for i := range us {
		_, us[i].TwoFactor = slices.BinarySearch(on, us[i].ID)
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
		return bulwark.Errorf(bulwark.Invalid, op, "unknown role: want viewer, member, admin or owner")
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
	if err := s.checkUserDelegation(op, p, req.Role); err != nil {
		return err
	}
	if _, err := bulwark.NormalizeEmail(req.Email); err != nil {
		return err
	}
	if err := CheckPassword(req.Password, req.Email); err != nil {
		return err
	}
	hash, err := HashPassword(req.Password, s.cfg.Password)
	if err != nil {
		return bulwark.E(bulwark.Internal, op, "", err)
	}
	// The grant is checked again with the rights the caller has now, and
	// the user made, under the tenant's roles lock: an admin demoted or
	// deleted while the password was hashed (a change made under the
	// lock) would otherwise make an admin of their choice, and keep their
	// access through it (red team, session 42).
	p, unlock, err := s.lockRoles(r, p)
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.checkUserDelegation(op, p, req.Role); err != nil {
		return err
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
	p, unlock, err := s.lockRoles(r, p)
	if err != nil {
		return err
	}
	defer unlock()
	target, err := s.store.User(ctx, p.Tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := checkGrant(op, p.Role, req.Role); err != nil {
		return err
	}
	if !target.Role.AtLeast(req.Role) { // a raise hands on rights: the caller must have them
		if err := s.checkUserDelegation(op, p, req.Role); err != nil {
			return err
		}
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

// deleteUser deletes a user with the user's sessions and the keys that
// carry the user's rights. Nobody deletes a user above them, and the
// tenant's last owner stays. A user who deletes themselves is logged out.
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	const op = "server.deleteUser"
	p, _ := PrincipalFrom(r.Context())
	ctx := r.Context()
	p, unlock, err := s.lockRoles(r, p)
	if err != nil {
		return err
	}
	defer unlock()
	target, err := s.store.User(ctx, p.Tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !p.Role.AtLeast(target.Role) {
		return s.refuse(r, p, metrics.ForbiddenRoute, "user.delete_refused",
			bulwark.Errorf(bulwark.PermissionDenied, op, "you cannot delete a user above you"))
	}
	if target.Role == bulwark.RoleOwner {
		if err := s.keepAnOwner(r, p.Tenant); err != nil {
			return err
		}
	}
	sessions, keys, err := s.store.DeleteUser(ctx, p.Tenant, target.ID)
	if err != nil {
		return err
	}
	if target.ID == p.UserID {
		clearSessionCookie(w)
	}
	if err := s.audit(r, audit.Record{Action: "user.delete", Target: target.ID, Details: map[string]string{
		"role": string(target.Role), "sessions_ended": strconv.Itoa(sessions), "keys_revoked": strconv.Itoa(keys)}}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// keepAnOwner refuses to demote or delete the tenant's last owner.
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
		return bulwark.Errorf(bulwark.Conflict, "server.keepAnOwner", "this is the tenant's last owner: make another owner first")
	}
	return nil
}

// lockRoles takes the tenant's roles lock for a change of rights and
// returns p's rights as they are under it (currentRights), and the
// release; on an error nothing is held.
func (s *Server) lockRoles(r *http.Request, p Principal) (Principal, func(), error) {
	unlock, err := s.lock(r, rolesLock(p.Tenant))
	if err != nil {
		return p, nil, err
	}
	if p, err = s.currentRights(r.Context(), p); err != nil {
		unlock()
		return p, nil, err
	}
	return p, unlock, nil
}

// currentRights returns p with its role lowered to its user's role as it
// is now, read under the tenant's roles lock: a role changed since p
// authenticated (by a request that held the lock, on any node) counts.
func (s *Server) currentRights(ctx context.Context, p Principal) (Principal, error) {
	if p.RightsUser() == "" {
		return p, nil
	}
	u, err := s.store.User(ctx, p.Tenant, p.RightsUser())
	if bulwark.ErrorKind(err) == bulwark.NotFound {
		return p, bulwark.Errorf(bulwark.Unauthenticated, "server.currentRights", "your user no longer exists")
	}
	if err != nil {
		return p, err
	}
	p.Role = lowerRole(p.Role, u.Role)
	return p, nil
}
