package testfamily

import (
	"strings"
	"testing"
)

// TestReasonSaysHowToEnable: the skip line names the variable and what
// the family needs.
func TestReasonSaysHowToEnable(t *testing.T) {
	for _, f := range []Family{Sandbox, Browser, Postgres} {
		r := f.Reason()
		set := f.Var + "=1"
		if f.URL {
			set = f.Var + " to a URL"
		}
		if !strings.Contains(r, set) || !strings.Contains(r, f.Needs) || !strings.Contains(r, "skipped") {
			t.Errorf("%s.Reason() = %q, want it to say it skipped, %s and what it needs", f.Name, r, set)
		}
	}
}

// TestURLFamily: a URL family runs when its variable holds anything, and
// its skip line asks for a URL.
func TestURLFamily(t *testing.T) {
	f := Family{Name: "x tests", Var: "BULWARK_TEST_XURL", Needs: "a server", URL: true}
	if r := Postgres.Reason(); !strings.Contains(r, "BULWARK_TEST_POSTGRES to a URL") {
		t.Errorf("Postgres.Reason() = %q, want it to ask for BULWARK_TEST_POSTGRES to a URL", r)
	}
	for v, want := range map[string]bool{"": false, "postgres://h/db": true} {
		t.Setenv(f.Var, v)
		if f.Enabled() != want || f.Value() != v {
			t.Errorf("with %s=%q: Enabled %v, Value %q; want %v", f.Var, v, f.Enabled(), f.Value(), want)
		}
	}
}

// TestRequire skips exactly when the variable is not 1.
func TestRequire(t *testing.T) {
	for _, v := range []string{"", "0", "yes", "1"} {
		t.Run("value="+v, func(t *testing.T) {
			t.Setenv("BULWARK_TEST_X", v)
			f := Family{Name: "x tests", Var: "BULWARK_TEST_X", Needs: "nothing"}
			ran := false
			t.Run("inner", func(t *testing.T) {
				f.Require(t)
				ran = true
			})
			if want := v == "1"; ran != want {
				t.Errorf("with BULWARK_TEST_X=%q the test ran: %v, want %v", v, ran, want)
			}
		})
	}
}

// TestRequireValue: a URL family runs for any value of its
// variable but the empty one, and Require returns it.
func TestRequireValue(t *testing.T) {
	for _, v := range []string{"", "postgres://localhost/x"} {
		t.Run("value="+v, func(t *testing.T) {
			t.Setenv("BULWARK_TEST_X", v)
			f := Family{Name: "x tests", Var: "BULWARK_TEST_X", URL: true, Needs: "nothing"}
			got, ran := "", false
			t.Run("inner", func(t *testing.T) {
				got = f.Require(t)
				ran = true
			})
			if want := v != ""; ran != want || ran && got != v {
				t.Errorf("with BULWARK_TEST_X=%q the test ran: %v with %q, want %v with %q", v, ran, got, want, v)
			}
		})
	}
}
