package bulwark

import (
	"context"
	"slices"
	"time"
)

// SkillStore keeps a tenant's skills (package skill says what one is):
// each is its files by path, SKILL.md among them, sealed at rest with the
// tenant's data key like task data. Only the name is kept in the clear,
// as a secret's is. The caller checks a skill (skill.FromFiles) before
// PutSkill; the store checks the name and the size only.
type SkillStore interface {
	// PutSkill creates or replaces the tenant's skill s.Name; created
	// reports whether it is new. Created and Updated are set by the store.
	PutSkill(ctx context.Context, tenant TenantID, s StoredSkill) (created bool, err error)
	// ListSkills returns the tenant's skills without their files, by name.
	ListSkills(ctx context.Context, tenant TenantID) ([]SkillInfo, error)
	// Skill returns one skill with its files; an unknown name (or another
	// tenant's) is NotFound.
	Skill(ctx context.Context, tenant TenantID, name string) (StoredSkill, error)
	// Skills returns every skill of the tenant with its files, by name,
	// for a task. A skill that does not open fails the whole call.
	Skills(ctx context.Context, tenant TenantID) ([]StoredSkill, error)
	// DeleteSkill removes a skill; an unknown name is NotFound.
	DeleteSkill(ctx context.Context, tenant TenantID, name string) error
}

// MaxStoredSkill is the most bytes of files a stored skill holds (the
// limit of package skill, with room for JSON).
const MaxStoredSkill = 1<<20 + 64<<10

// StoredSkill is a tenant's skill as kept.
type StoredSkill struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Files       map[string]string `json:"files"` // by path: "SKILL.md", "reference/forms.md"
	Created     time.Time         `json:"created"`
	Updated     time.Time         `json:"updated"`
}

// SkillInfo describes a stored skill without its files' content.
type SkillInfo struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Files       []string  `json:"files"` // paths, sorted
	Size        int       `json:"size"`  // bytes of all files
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

// Info is s without its files' content.
func (s StoredSkill) Info() SkillInfo {
	info := SkillInfo{Name: s.Name, Description: s.Description, Files: []string{}, Created: s.Created, Updated: s.Updated}
	for p, data := range s.Files {
		info.Files = append(info.Files, p)
		info.Size += len(data)
	}
	slices.Sort(info.Files)
	return info
}
