package main

import (
	"context"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/server"
	"github.com/bulwark-agents/bulwark/skill"
)

// skillsDirVar names the operator's skills folder: every task of bulwark
// run and bulwark serve is offered its skills.
const skillsDirVar = "BULWARK_SKILLS_DIR"

// operatorSkills reads the skills of BULWARK_SKILLS_DIR and of each extra
// folder (bulwark run --skills), trusted. A bad skill, or one name in two
// folders, is bad usage that names it: the operator configured it, so it
// is not skipped.
func operatorSkills(extra []string) ([]*skill.Skill, error) {
	var dirs []string
	if d := env(skillsDirVar); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, extra...)
	var all []*skill.Skill
	from := map[string]string{}
	for _, d := range dirs {
		got, err := skill.LoadDir(d)
		if err != nil {
			return nil, usagef("skills %s: %s", d, bulwark.ErrorMessage(err))
		}
		for _, k := range got {
			if prev, dup := from[k.Name]; dup {
				return nil, usagef("the skill %s is in two skills folders: %s and %s", k.Name, prev, d)
			}
			from[k.Name] = d
		}
		all = append(all, got...)
	}
	return all, nil
}

// skillReader reads a tenant's stored skills.
type skillReader interface {
	Skills(ctx context.Context, tenant bulwark.TenantID) ([]bulwark.StoredSkill, error)
}

// tenantSkills is the skill set of a task of tenant: the operator's and
// the tenant's. A stored skill that no longer passes skill.FromFiles
// fails the task with its name, rather than being left out unseen.
func tenantSkills(ctx context.Context, store skillReader, tenant bulwark.TenantID, operator []*skill.Skill) (*skill.Set, error) {
	stored, err := store.Skills(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var mine []*skill.Skill
	for _, st := range stored {
		k, err := skill.FromFiles(st.Name, st.Files)
		if err != nil {
			return nil, bulwark.E(bulwark.Invalid, "serve.skills", "the skill "+st.Name+" cannot be used: "+bulwark.ErrorMessage(err)+"; fix it or delete it", err)
		}
		mine = append(mine, k)
	}
	return skill.NewSet(operator, mine), nil
}

// operatorSkillList is what tenants are shown of the operator's skills.
func operatorSkillList(all []*skill.Skill) []server.OperatorSkill {
	var out []server.OperatorSkill
	for _, k := range all {
		out = append(out, server.OperatorSkill{Name: k.Name, Description: k.Description})
	}
	return out
}
