package skill

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/tool"
)

// Tools returns load_skill and read_skill_file over s (nil: tools that
// know no skill, for the names policy rules are checked against).
func Tools(s *Set) []tool.Tool { return []tool.Tool{loadSkill{s}, readSkillFile{s}} }

var nameSchema = &tool.Schema{Type: "string", Description: "The skill's name, as listed in your instructions.", MinLength: 1, MaxLength: MaxName}

type loadSkill struct{ set *Set }

// The schemas' maps are made on first use, not by the package's init,
// which every command runs.
var loadSchema = lazy.Value[*tool.Schema]{New: func() *tool.Schema {
	return &tool.Schema{
		Type:       "object",
		Properties: map[string]*tool.Schema{"name": nameSchema},
		Required:   []string{"name"},
	}
}}

func (loadSkill) Name() string { return "load_skill" }
func (loadSkill) Description() string {
	return "Read the instructions of a skill listed in your instructions, when the task needs them. " +
		"The answer is its SKILL.md (without the front matter) and the names of the files beside it, which read_skill_file reads."
}
func (loadSkill) Schema() *tool.Schema { return loadSchema.Get() }

// Effects: a skill is read from the task's own configuration, not the
// workspace; the target is the skill's name, for policy rules.
func (loadSkill) Effects(args json.RawMessage) (tool.Effects, error) {
	var a struct{ Name string }
	if err := json.Unmarshal(args, &a); err != nil {
		return tool.Effects{}, bulwark.E(bulwark.Invalid, "load_skill", "the arguments do not fit load_skill", err)
	}
	return tool.Effects{Targets: []string{a.Name}}, nil
}

func (t loadSkill) Run(ctx context.Context, env *tool.Env, raw json.RawMessage) (tool.Result, error) {
	var a struct{ Name string }
	if err := json.Unmarshal(raw, &a); err != nil {
		return tool.Result{}, bulwark.E(bulwark.Invalid, "load_skill", "the arguments do not fit load_skill", err)
	}
	k, err := t.set.find(a.Name)
	if err != nil {
		return tool.Result{}, err
	}
	var b strings.Builder
	b.WriteString(header(k, Main))
	b.WriteString(k.Body)
	if files := k.Files(); len(files) > 0 {
		b.WriteString("\n\nFiles beside it (read_skill_file): " + strings.Join(files, ", "))
	}
	return tool.Result{Output: b.String()}, nil
}

type readSkillFile struct{ set *Set }

var readSchema = lazy.Value[*tool.Schema]{New: func() *tool.Schema {
	return &tool.Schema{
		Type: "object",
		Properties: map[string]*tool.Schema{
			"name": nameSchema,
			"path": {Type: "string", Description: "The file's path inside the skill's folder, as its instructions name it: \"reference/forms.md\".", MinLength: 1, MaxLength: 1024},
		},
		Required: []string{"name", "path"},
	}
}}

func (readSkillFile) Name() string { return "read_skill_file" }
func (readSkillFile) Description() string {
	return "Read a file that a skill's instructions name, from the skill's folder (not the workspace). Load the skill first."
}
func (readSkillFile) Schema() *tool.Schema { return readSchema.Get() }

type readArgs struct{ Name, Path string }

func (readSkillFile) Effects(args json.RawMessage) (tool.Effects, error) {
	var a readArgs
	if err := json.Unmarshal(args, &a); err != nil {
		return tool.Effects{}, bulwark.E(bulwark.Invalid, "read_skill_file", "the arguments do not fit read_skill_file", err)
	}
	return tool.Effects{Targets: []string{a.Name + "/" + a.Path}}, nil
}

func (t readSkillFile) Run(ctx context.Context, env *tool.Env, raw json.RawMessage) (tool.Result, error) {
	var a readArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return tool.Result{}, bulwark.E(bulwark.Invalid, "read_skill_file", "the arguments do not fit read_skill_file", err)
	}
	k, err := t.set.find(a.Name)
	if err != nil {
		return tool.Result{}, err
	}
	text, err := k.ReadFile(a.Path)
	if err != nil {
		return tool.Result{}, err
	}
	return tool.Result{Output: header(k, a.Path) + text}, nil
}

func (s *Set) find(name string) (*Skill, error) {
	if k, ok := s.Get(name); ok {
		return k, nil
	}
	return nil, bulwark.Errorf(bulwark.NotFound, "skill", "there is no skill %q; use a name from the list in your instructions", clip(name, 80))
}

// header says which skill a text comes from and who wrote it.
func header(k *Skill, file string) string {
	who := "from the operator"
	if k.Source == Tenant {
		who = tenantNote
	}
	return "Skill " + k.Name + ", " + file + " (" + who + "):\n\n"
}
