package web

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/bulwark-agents/bulwark"
)

// TestShownMatchesGo runs dom.js's shown under Node, when Node is
// installed, on every code point, and wants it to spell out exactly the
// characters Go's names refuse (bulwark.IsInvisibleFormat), the controls
// and the surrogates, and to leave the others as they are: a name the
// server would refuse for an invisible character shows that character
// in the UI.
func TestShownMatchesGo(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the browser tests (BULWARK_TEST_BROWSER=1) check the script")
	}
	abs, _ := filepath.Abs("static/dom.js")
	script := `const m = await import(` + jsString(abs) + `);
const out = [];
for (let cp = 0; cp <= 0x10FFFF; cp++) {
  const c = String.fromCodePoint(cp), s = m.shown('a' + c + 'b');
  if (s === 'a' + c + 'b') continue;
  const want = 'a⟨U+' + cp.toString(16).toUpperCase().padStart(4, '0') + '⟩b';
  out.push(s === want ? cp : -cp - 1);
}
console.log(JSON.stringify({shown: out, file: m.fileName('x/report\u202Efdp.exe'), plain: m.shown('résumé 报告 ملف.txt 👩\u200D💻 ❤\uFE0F')}));`
	f := filepath.Join(t.TempDir(), "t.mjs")
	if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := exec.Command(node, f).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, raw)
	}
	var got struct {
		Shown       []int
		File, Plain string
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(raw))), &got); err != nil {
		t.Fatalf("node printed %.300s: %v", raw, err)
	}
	js := map[rune]bool{}
	for _, cp := range got.Shown {
		if cp < 0 {
			t.Errorf("shown spells U+%04X wrongly", -cp-1)
			continue
		}
		js[rune(cp)] = true
	}
	var missing, extra []string
	for r := rune(0); r <= unicode.MaxRune; r++ {
		want := unicode.IsControl(r) || bulwark.IsInvisibleFormat(r) || (r >= 0xD800 && r <= 0xDFFF)
		switch {
		case want && !js[r]:
			missing = append(missing, string(rune(r)))
		case !want && js[r]:
			extra = append(extra, string(rune(r)))
		}
	}
	if len(missing) > 0 {
		t.Errorf("shown leaves %d characters as they are that Go's names refuse: %+q", len(missing), first(missing, 20))
	}
	if len(extra) > 0 {
		t.Errorf("shown spells out %d characters that Go's names take: %+q", len(extra), first(extra, 20))
	}
	if got.File != "reportfdp.exe" {
		t.Errorf("fileName(%q) = %q, want %q", "x/report\u202Efdp.exe", got.File, "reportfdp.exe")
	}
	if want := "résumé 报告 ملف.txt 👩\u200d💻 ❤\ufe0f"; got.Plain != want {
		t.Errorf("shown(%q) = %q, want it as it is", want, got.Plain)
	}
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }
