package server

import (
	"github.com/bulwark-agents/bulwark"
	"strings"
	"testing"
)

var passwordTests = []struct {
	pw  string
	ok  bool
	why string // a word the refusal must contain
}{
	{"correct horse battery", true, ""},
	{"an entirely different passphrase", true, ""},
	{"kq8#Vz2!pLm0", true, ""},
	{"Tr0ub4dor&3x", true, ""},
	{"vingt-trois gâteaux verts", true, ""},
	{"short", false, "at least"},
	{"elevenchars", false, "at least"},
	{strings.Repeat("x7Kp", 32) + "z", false, "at most"}, // 129 characters
	{"qwertyuiopasdfgh", false, "common"},
	{"1qaz2wsx3edc", false, "common"},
	{"password1234", false, "common"},
	{"password12345678", false, "guess"},
	{"Password!2345", false, "guess"},
	{"aaaaaaaaaaaa", false, ""},
	{"abcabcabcabc", false, ""},
	{"abcdefghijklmn", false, ""},
	{"987654321098", false, ""},
	{"qazwsxedcrfvtgb", false, ""},
	{"zxcvbnm,./asdf", false, ""},
	{"iloveyou2024!", false, ""},
	{"monkeymonkey12", false, ""},
	{"ann.smith@example.com", false, "email"},
	{"ann.smith12345", false, ""},
	{"example.com2024", false, ""},
	{"\xff\xfeinvalid-utf8", false, "UTF-8"},
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	for _, c := range passwordTests {
		err := CheckPassword(c.pw, "ann.smith@example.com")
		if (err == nil) != c.ok {
			t.Errorf("CheckPassword(%q) = %v (%.0f bits), want ok=%v", c.pw, err, passwordBits(c.pw, []string{"ann.smith@example.com", "ann.smith", "example.com", "example"}), c.ok)
			continue
		}
		if err != nil && c.why != "" && !strings.Contains(err.Error(), c.why) {
			t.Errorf("CheckPassword(%q) = %v, want a message about %q", c.pw, err, c.why)
		}
	}
}

// TestCommonPasswordListEmbedded: the list is in the binary and read.
func TestCommonPasswordListEmbedded(t *testing.T) {
	t.Parallel()
	for _, w := range []string{"123456", "password", "qwerty", "iloveyou", "trustno1"} {
		if commonPasswordRank(w) == 0 {
			t.Errorf("%q is not in the embedded list", w)
		}
	}
	if n := strings.Count(commonPasswords, "\n"); n < 40_000 {
		t.Errorf("the embedded list has %d passwords, want the whole list", n)
	}
}

// TestUserCreationChecksPassword: the API applies the password rules,
// with the new user's email as a known word.
func TestUserCreationChecksPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	for _, pw := range []string{"1qaz2wsx3edc", "zzzzzzzzzzzzzzzz", "bob.jones.example", strings.Repeat("k9Lx", 33)} {
		w := e.do(req{method: "POST", path: "/api/v1/users", key: a.keys[bulwark.RoleAdmin], body: `{"email":"bob.jones@example.com","password":"` + pw + `"}`})
		if w.Code != 400 {
			t.Errorf("POST /api/v1/users with password %q = %d, want 400", pw, w.Code)
		}
	}
}
