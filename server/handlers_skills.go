package server

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/skill"
)

// MaxSkills is the most skills one tenant keeps.
const MaxSkills = 100

// maxSkillBody is the most bytes of a skill upload: its files, escaped
// in JSON.
const maxSkillBody = 3 << 20

// OperatorSkill is a skill of the operator's folder as tenants see it:
// its name and description, which every task's prompt lists anyway.
type OperatorSkill struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

type skillsResponse struct {
	Skills []bulwark.SkillInfo `json:"skills"` // the tenant's own
	// Operator are the operator's skills, offered to every task; one of
	// them wins over a tenant's skill of the same name.
	Operator []OperatorSkill `json:"operator"`
}

func (s *Server) listSkills(w http.ResponseWriter, r *http.Request) error {
	infos, err := s.store.ListSkills(r.Context(), TenantFrom(r.Context()))
	if err != nil {
		return err
	}
	// Saving refuses a secret's value (checkSkillSecrets); one set since
	// to a value a description or a path holds is masked, and charged as
	// a guess.
	red, err := s.secretValues(r, TenantFrom(r.Context()))
	if err != nil {
		return err
	}
	masked := false
	for i := range infos {
		m := false
		infos[i].Description, m = maskedText(red, infos[i].Description)
		masked = masked || m
		for j, p := range infos[i].Files {
			infos[i].Files[j], m = maskedText(red, p)
			masked = masked || m
		}
	}
	if err := s.chargeMaskedIf(r, masked, "skill"); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, skillsResponse{Skills: nonNil(infos), Operator: nonNil(s.cfg.OperatorSkills)})
	return nil
}

// knownSkillName is the path's skill name; one no skill can have is not
// found, as an unknown one is.
func knownSkillName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if skill.CheckName(name) != nil {
		return "", bulwark.Errorf(bulwark.NotFound, "server.skill", "no such skill")
	}
	return name, nil
}

func (s *Server) getSkill(w http.ResponseWriter, r *http.Request) error {
	name, err := knownSkillName(r)
	if err != nil {
		return err
	}
	sk, err := s.store.Skill(r.Context(), TenantFrom(r.Context()), name)
	if err != nil {
		return err
	}
	// Saving refuses a secret's value (checkSkillSecrets); one set since
	// to a value the files hold is masked, and charged as a guess.
	red, err := s.secretValues(r, TenantFrom(r.Context()))
	if err != nil {
		return err
	}
	masked := false
	sk.Description, masked = maskedText(red, sk.Description)
	files := make(map[string]string, len(sk.Files))
	for p, data := range sk.Files {
		p, mp := maskedText(red, p)
		data, md := maskedText(red, data)
		files[p], masked = data, masked || mp || md
	}
	sk.Files = files
	if err := s.chargeMaskedIf(r, masked, "skill"); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sk)
	return nil
}

// maskedText is text with red's values masked, and whether there were any.
func maskedText(red *secret.Redactor, text string) (string, bool) {
	out := red.String(text)
	return out, out != text
}

// chargeMaskedIf charges the caller a masked answer (chargeMasked) when
// masked says an answer had to mask a secret's value.
func (s *Server) chargeMaskedIf(r *http.Request, masked bool, where string) error {
	if !masked {
		return nil
	}
	p, _ := PrincipalFrom(r.Context())
	return s.chargeMasked(r, p, where)
}

// secretValues is a redactor of the tenant's secret values only, without
// the detection of strings that look like credentials: a skill's files
// are documentation, whose examples often look like one.
func (s *Server) secretValues(r *http.Request, t bulwark.TenantID) (*secret.Redactor, error) {
	vals, err := s.store.SecretValues(r.Context(), t)
	if err != nil {
		return nil, err
	}
	red := secret.RedactorOf(vals)
	red.SetDetection(false)
	return red, nil
}

// checkSkillSecrets refuses a skill whose files (or their paths) hold the
// value of one of the tenant's secrets: a skill is shown to every member
// of the tenant, viewers included, and secret values to nobody; a task
// refers to a secret by its placeholder. The refusal tells that a guess
// was right, so it is charged as a masked answer.
func (s *Server) checkSkillSecrets(r *http.Request, t bulwark.TenantID, files map[string]string) error {
	red, err := s.secretValues(r, t)
	if err != nil {
		return err
	}
	for p, data := range files {
		if red.String(p) == p && red.String(data) == data {
			continue
		}
		pr, _ := PrincipalFrom(r.Context())
		if err := s.chargeMasked(r, pr, "skill"); err != nil {
			return err
		}
		return bulwark.Errorf(bulwark.Invalid, "server.checkSkillSecrets",
			"a file of the skill holds a secret's value: write {{secret:NAME}} in its place, or leave it out")
	}
	return nil
}

// putSkillRequest is a skill upload: its files by path, SKILL.md among
// them (text only).
type putSkillRequest struct {
	Files map[string]string `json:"files"`
}

// skillResponse is a stored skill's description, with a warning when an
// operator's skill of the same name hides it from tasks.
type skillResponse struct {
	bulwark.SkillInfo
	Shadowed bool   `json:"shadowed"`
	Warning  string `json:"warning,omitempty"`
}

// createSkill stores a new skill, named by its SKILL.md; a name the tenant
// already has is Conflict.
func (s *Server) createSkill(w http.ResponseWriter, r *http.Request) error {
	return s.saveSkill(w, r, "", false)
}

// putSkill creates or replaces the skill of the path's name, which its
// SKILL.md must give too.
func (s *Server) putSkill(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := skill.CheckName(name); err != nil {
		return err
	}
	return s.saveSkill(w, r, name, true)
}

func (s *Server) saveSkill(w http.ResponseWriter, r *http.Request, name string, replace bool) error {
	const op = "server.saveSkill"
	t := TenantFrom(r.Context())
	var req putSkillRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	k, err := skill.FromFiles(name, req.Files)
	if err != nil {
		return err
	}
	if err := s.checkSkillSecrets(r, t, req.Files); err != nil {
		return err
	}
	// The count and the write are one step per tenant, so that two
	// uploads cannot both pass the check.
	unlock, err := s.lock(r, "skills|"+string(t))
	if err != nil {
		return err
	}
	defer unlock()
	existing, err := s.store.ListSkills(r.Context(), t)
	if err != nil {
		return err
	}
	exists := slices.ContainsFunc(existing, func(i bulwark.SkillInfo) bool { return i.Name == k.Name })
	switch {
	case exists && !replace:
		return bulwark.Errorf(bulwark.Conflict, op, "a skill named %s already exists: replace it with PUT /api/v1/skills/%s", k.Name, k.Name)
	case !exists && len(existing) >= MaxSkills:
		return bulwark.Errorf(bulwark.QuotaExceeded, op, "a tenant keeps at most %d skills; delete one first", MaxSkills)
	}
	created, err := s.store.PutSkill(r.Context(), t, bulwark.StoredSkill{Name: k.Name, Description: k.Description, Files: req.Files})
	if err != nil {
		return err
	}
	stored, err := s.store.Skill(r.Context(), t, k.Name)
	if err != nil {
		return err
	}
	action := "skill.update"
	if created {
		action = "skill.create"
	}
	info := stored.Info()
	if err := s.audit(r, audit.Record{Action: action, Target: k.Name, Details: map[string]string{"files": strconv.Itoa(len(info.Files)), "bytes": strconv.Itoa(info.Size)}}); err != nil {
		return err
	}
	resp := skillResponse{SkillInfo: info}
	if slices.ContainsFunc(s.cfg.OperatorSkills, func(o OperatorSkill) bool { return o.Name == k.Name }) {
		resp.Shadowed = true
		resp.Warning = "the operator has a skill named " + k.Name + ": tasks use the operator's, not this one, until you rename it"
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, resp)
	return nil
}

func (s *Server) deleteSkill(w http.ResponseWriter, r *http.Request) error {
	name, err := knownSkillName(r)
	if err != nil {
		return err
	}
	if err := s.store.DeleteSkill(r.Context(), TenantFrom(r.Context()), name); err != nil {
		return err
	}
	if err := s.audit(r, audit.Record{Action: "skill.delete", Target: name}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
