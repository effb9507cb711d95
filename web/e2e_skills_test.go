package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// testSkillsPage uploads a skill on the skills page, finds it listed with
// its description, opens it (its text shown as text, never as markup),
// and deletes it.
func testSkillsPage(t *testing.T, b *browser, s *e2eServer) {
	const name = "e2e-skill"
	ctx := context.Background()
	b.open(s.URL + "/skills")
	b.wait("the list", `document.querySelector('main table.skills, main .empty')`)
	b.setValue("form.new-skill textarea[name=skill]", "---\nname: "+name+"\ndescription: Use <b>bold</b> claims sparingly.\n---\n# Steps\n<img src=x onerror=\"document.title='pwned'\">Check twice.\n")
	b.click("form.new-skill button[type=submit]")
	row := fmt.Sprintf(`table.skills tr[data-name=%q]`, name)
	b.wait("the skill in the list", fmt.Sprintf(`document.querySelector('%s')`, row))
	if got := b.text(row + " td.description"); got != "Use <b>bold</b> claims sparingly." {
		t.Errorf("the description reads %q", got)
	}
	stored, err := s.db.Skill(ctx, s.tenant, name)
	if err != nil || !strings.Contains(stored.Files["SKILL.md"], "Check twice.") {
		t.Fatalf("the stored skill = %+v, %v", stored, err)
	}
	b.clickText(row+" button", "Open")
	b.wait("the skill's text", `(document.querySelector('.skill-view pre') || {textContent: ''}).textContent.includes('Check twice.')`)
	if n := evalJS[int](b, `document.querySelectorAll('main img, main b').length`); n != 0 {
		t.Errorf("the skill's text became %d elements of markup", n)
	}
	if title := evalJS[string](b, `document.title`); strings.Contains(title, "pwned") {
		t.Error("the skill's text ran as script")
	}
	b.shot("skills")
	b.clickText(row+" button", "Delete")
	b.clickText(row+" button", "Click again to delete")
	b.wait("the skill to go", fmt.Sprintf(`!document.querySelector('%s')`, row))
	if _, err := s.db.Skill(ctx, s.tenant, name); err == nil {
		t.Error("after deleting, the skill is still stored")
	}
}
