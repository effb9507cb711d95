// Package storecheck holds the checks of input that Bulwark's stores
// (sqlite, postgres) make alike, so that both refuse the same values with
// the same error kinds.
package storecheck

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
)

// MaxSecretLen is the longest secret value, in bytes.
const MaxSecretLen = 64 << 10

// TaskID refuses a task id no store could have made: Invalid.
func TaskID(op, id string) error {
	if id == "" || len(id) > 128 || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return bulwark.Errorf(bulwark.Invalid, op, "the task id is not valid")
	}
	return nil
}

// RecordID refuses ids no store could have made: NotFound, as for a
// record that does not exist.
func RecordID(op, what, id string) error {
	if id == "" || len(id) > 128 || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return bulwark.Errorf(bulwark.NotFound, op, "no such %s", what)
	}
	return nil
}

// TenantName refuses a tenant name that is empty, too long or not
// printable: Invalid.
func TenantName(op, name string) error {
	if strings.TrimSpace(name) == "" || len(name) > 100 || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f || bulwark.IsInvisibleFormat(r) }) {
		return bulwark.Errorf(bulwark.Invalid, op, "a tenant name is 1 to 100 printable characters")
	}
	return nil
}

// ArtifactPath refuses a file path that is not relative and clean:
// Invalid.
func ArtifactPath(op, p string) error {
	if p == "" || p == "." || len(p) > 4096 || strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) ||
		slices.Contains(strings.Split(p, "/"), "..") {
		return bulwark.Errorf(bulwark.Invalid, op, "the file path is not valid")
	}
	return nil
}

// SecretName refuses a bad secret name: Invalid.
func SecretName(op, name string) error {
	if !secret.ValidName(name) {
		return bulwark.Errorf(bulwark.Invalid, op, "a secret name is 1 to 64 letters, digits and _, not starting with a digit")
	}
	return nil
}

// SecretValue refuses an empty, too short or too long secret value:
// Invalid.
func SecretValue(op, value string) error {
	switch {
	case value == "":
		return bulwark.Errorf(bulwark.Invalid, op, "a secret's value must not be empty")
	case len(value) < secret.MinSecretLen:
		return bulwark.Errorf(bulwark.Invalid, op, "a secret's value must be at least %d bytes: shorter values cannot be masked reliably in output", secret.MinSecretLen)
	case len(value) > MaxSecretLen:
		return bulwark.Errorf(bulwark.Invalid, op, "a secret's value must be at most %d bytes", MaxSecretLen)
	}
	return nil
}

// SecretInject refuses a secret bound to no host (bound false) that
// would go anywhere but headers: Invalid, since the proxy puts an unbound
// secret nowhere, and a place chosen now would apply unseen once it is
// bound.
func SecretInject(op string, bound bool, in bulwark.SecretInject) error {
	if !bound && !in.IsHeadersOnly() {
		return bulwark.Errorf(bulwark.Invalid, op, "a secret bound to no host is put into no request; bind it to hosts to choose where (inject %s)", in)
	}
	return nil
}

// BlobID refuses a checkpoint blob id that is not in the form
// bulwark.BlobID gives (64 lowercase hex digits): Invalid.
func BlobID(op, id string) error {
	if len(id) != 64 || strings.ContainsFunc(id, func(r rune) bool { return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') }) {
		return bulwark.Errorf(bulwark.Invalid, op, "the blob id is not a SHA-256 in hex")
	}
	return nil
}

// SkillName refuses a name that is not a skill's (skill.CheckName's
// rule: 1 to 64 lowercase letters, digits and single inner hyphens):
// Invalid.
func SkillName(op, name string) error {
	ok := name != "" && len(name) <= 64 && name[0] != '-' && name[len(name)-1] != '-' && !strings.Contains(name, "--")
	for _, c := range []byte(name) {
		ok = ok && (c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-')
	}
	if !ok {
		return bulwark.Errorf(bulwark.Invalid, op, "a skill name is 1 to 64 lowercase letters, digits and single hyphens, not first or last")
	}
	return nil
}

// SkillContent is the sealed JSON of a stored skill: what is not its name.
type SkillContent struct {
	Description string            `json:"description"`
	Files       map[string]string `json:"files"`
}

// Skill checks a skill before it is stored and returns its sealed
// content's plaintext: its name, a SKILL.md among its files, and the
// size (bulwark.MaxStoredSkill). Invalid.
func Skill(op string, s bulwark.StoredSkill) ([]byte, error) {
	if err := SkillName(op, s.Name); err != nil {
		return nil, err
	}
	if _, ok := s.Files["SKILL.md"]; !ok {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "a skill needs a file SKILL.md")
	}
	pt, err := json.Marshal(SkillContent{Description: s.Description, Files: s.Files})
	if err != nil {
		return nil, bulwark.E(bulwark.Invalid, op, "the skill cannot be stored", err)
	}
	if len(pt) > bulwark.MaxStoredSkill {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "the skill is %d bytes, over the limit of %d", len(pt), bulwark.MaxStoredSkill)
	}
	return pt, nil
}
