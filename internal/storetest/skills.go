package storetest

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

func skillOf(name, desc, body string, extra map[string]string) bulwark.StoredSkill {
	files := map[string]string{"SKILL.md": "---\nname: " + name + "\ndescription: " + desc + "\n---\n" + body}
	for p, c := range extra {
		files[p] = c
	}
	return bulwark.StoredSkill{Name: name, Description: desc, Files: files}
}

// testSkills: a tenant's skills are stored, listed by name, replaced,
// read back whole and deleted; another tenant's names are NotFound;
// bad names and oversized skills are refused; nothing of their content is
// in the clear at rest; a sealed skill moved to another tenant or name
// does not open.
func testSkills(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	h := harness(t, s)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	created, err := s.PutSkill(ctx, a, skillOf("zeta", "CANARY-skill-desc-5e1d", "CANARY-skill-body-77c2", map[string]string{"ref/x.md": "CANARY-skill-file-1a9b"}))
	must(err)
	if !created {
		t.Error("PutSkill of a new skill: created = false")
	}
	_, err = s.PutSkill(ctx, a, skillOf("alpha", "first", "one", nil))
	must(err)
	created, err = s.PutSkill(ctx, a, skillOf("alpha", "replaced", "two", nil))
	must(err)
	if created {
		t.Error("PutSkill replacing a skill: created = true")
	}
	list, err := s.ListSkills(ctx, a)
	must(err)
	if len(list) != 2 || list[0].Name != "alpha" || list[0].Description != "replaced" || list[1].Name != "zeta" ||
		strings.Join(list[1].Files, ",") != "SKILL.md,ref/x.md" || list[1].Size == 0 {
		t.Errorf("ListSkills = %+v", list)
	}
	got, err := s.Skill(ctx, a, "zeta")
	must(err)
	if got.Files["ref/x.md"] != "CANARY-skill-file-1a9b" || !strings.Contains(got.Files["SKILL.md"], "CANARY-skill-body-77c2") || got.Created.IsZero() {
		t.Errorf("Skill(zeta) = %+v", got)
	}
	all, err := s.Skills(ctx, a)
	must(err)
	if len(all) != 2 || all[1].Files["ref/x.md"] == "" {
		t.Errorf("Skills = %+v", all)
	}
	// Another tenant sees none of them.
	if _, err := s.Skill(ctx, b, "zeta"); !kindIs(err, bulwark.NotFound) {
		t.Errorf("Skill of a's skill from b = %v, want NotFound", err)
	}
	if err := s.DeleteSkill(ctx, b, "zeta"); !kindIs(err, bulwark.NotFound) {
		t.Errorf("DeleteSkill of a's skill from b = %v, want NotFound", err)
	}
	if l, err := s.ListSkills(ctx, b); err != nil || len(l) != 0 {
		t.Errorf("ListSkills(b) = %v, %v; want none", l, err)
	}
	// Refused.
	for _, bad := range []bulwark.StoredSkill{
		skillOf("../x", "d", "", nil), skillOf("Upper", "d", "", nil), {Name: "nomain", Files: map[string]string{"a.md": "x"}},
		skillOf("big", "d", strings.Repeat("x", bulwark.MaxStoredSkill), nil),
	} {
		if _, err := s.PutSkill(ctx, a, bad); !kindIs(err, bulwark.Invalid) {
			t.Errorf("PutSkill(%q) = %v, want Invalid", bad.Name, err)
		}
	}
	// Nothing in the clear.
	dump := h.Dump(t)
	for _, c := range []string{"CANARY-skill-desc-5e1d", "CANARY-skill-body-77c2", "CANARY-skill-file-1a9b"} {
		if bytes.Contains(dump, []byte(c)) || bytes.Contains(dump, []byte(hexOf(c))) {
			t.Errorf("the store holds %q in the clear", c)
		}
	}
	// A sealed skill moved to another tenant, or another name.
	_, err = s.PutSkill(ctx, b, skillOf("zeta", "b's own", "b body", nil))
	must(err)
	h.Exec(t, `UPDATE skills SET content_ct = (SELECT content_ct FROM skills WHERE tenant_id = ? AND name = 'zeta') WHERE tenant_id = ? AND name = 'zeta'`, a, b)
	moved, err := s.Skill(ctx, b, "zeta")
	checkDoesNotOpen(t, "a skill moved to another tenant", moved, err, "CANARY-skill-body-77c2")
	h.Exec(t, `UPDATE skills SET content_ct = (SELECT content_ct FROM skills WHERE tenant_id = ? AND name = 'zeta') WHERE tenant_id = ? AND name = 'alpha'`, a, a)
	moved, err = s.Skill(ctx, a, "alpha")
	checkDoesNotOpen(t, "a skill moved to another name", moved, err, "CANARY-skill-body-77c2")
	// Deleted.
	must(s.DeleteSkill(ctx, a, "zeta"))
	if _, err := s.Skill(ctx, a, "zeta"); !kindIs(err, bulwark.NotFound) {
		t.Errorf("Skill after delete = %v, want NotFound", err)
	}
	if err := s.DeleteSkill(ctx, a, "zeta"); !kindIs(err, bulwark.NotFound) {
		t.Errorf("DeleteSkill twice = %v, want NotFound", err)
	}
}
