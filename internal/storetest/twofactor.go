package storetest

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// testTwoFactor: a pending second factor is stored sealed, replaced while
// pending, confirmed once; a step is accepted only when later than the
// last (a replay is refused, and of racing writers one wins); recovery
// codes work once each; another tenant sees nothing; deleting the user
// or the factor removes it.
func testTwoFactor(t *testing.T, open func(*testing.T) Store) {
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
	u, err := s.CreateUser(ctx, a, bulwark.User{Email: "ann@a.test", Role: bulwark.RoleMember}, "h")
	must(err)
	ub, err := s.CreateUser(ctx, b, bulwark.User{Email: "bob@b.test", Role: bulwark.RoleMember}, "h")
	must(err)
	if _, err := s.TOTP(ctx, a, u.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("TOTP before any = %v, want NotFound", err)
	}
	if err := s.PutPendingTOTP(ctx, a, ub.ID, []byte("x")); !kindIs(err, bulwark.NotFound) {
		t.Errorf("PutPendingTOTP for b's user from a = %v, want NotFound", err)
	}
	secret := []byte("CANARY-totp-secret-8c1e")
	must(s.PutPendingTOTP(ctx, a, u.ID, []byte("first, replaced")))
	must(s.PutPendingTOTP(ctx, a, u.ID, secret))
	got, err := s.TOTP(ctx, a, u.ID)
	must(err)
	if !bytes.Equal(got.Secret, secret) || got.Enabled || got.Created.IsZero() {
		t.Errorf("TOTP pending = %+v", got)
	}
	if ok, err := s.UseTOTPStep(ctx, a, u.ID, 100); ok || err != nil {
		t.Errorf("UseTOTPStep on a pending factor = %v, %v; want false", ok, err)
	}
	hashes := [][]byte{[]byte("hash-one"), []byte("hash-two")}
	if err := s.EnableTOTP(ctx, b, u.ID, 100, hashes); !kindIs(err, bulwark.Conflict) && !kindIs(err, bulwark.NotFound) {
		t.Errorf("EnableTOTP of a's user from b = %v, want Conflict or NotFound", err)
	}
	must(s.EnableTOTP(ctx, a, u.ID, 100, hashes))
	if err := s.EnableTOTP(ctx, a, u.ID, 101, hashes); !kindIs(err, bulwark.Conflict) {
		t.Errorf("EnableTOTP twice = %v, want Conflict", err)
	}
	if err := s.PutPendingTOTP(ctx, a, u.ID, []byte("other")); !kindIs(err, bulwark.Conflict) {
		t.Errorf("PutPendingTOTP while on = %v, want Conflict", err)
	}
	got, err = s.TOTP(ctx, a, u.ID)
	must(err)
	if !got.Enabled || got.LastStep != 100 || got.RecoveryLeft != 2 || !bytes.Equal(got.Secret, secret) {
		t.Errorf("TOTP on = %+v", got)
	}
	if ids, err := s.TwoFactorUsers(ctx, a); err != nil || !slices.Equal(ids, []string{u.ID}) {
		t.Errorf("TwoFactorUsers(a) = %v, %v; want [%s]", ids, err, u.ID)
	}
	if ids, err := s.TwoFactorUsers(ctx, b); err != nil || len(ids) != 0 {
		t.Errorf("TwoFactorUsers(b) = %v, %v; want none", ids, err)
	}
	// Steps: only later ones.
	for _, c := range []struct {
		step int64
		ok   bool
	}{{100, false}, {99, false}, {101, true}, {101, false}, {103, true}, {102, false}} {
		if ok, err := s.UseTOTPStep(ctx, a, u.ID, c.step); ok != c.ok || err != nil {
			t.Errorf("UseTOTPStep(%d) = %v, %v; want %v", c.step, ok, err, c.ok)
		}
	}
	if ok, _ := s.UseTOTPStep(ctx, b, u.ID, 200); ok {
		t.Error("UseTOTPStep of a's user from b = true")
	}
	// Racing writers with the same step: one wins.
	var wg sync.WaitGroup
	wins := make(chan bool, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.UseTOTPStep(ctx, a, u.ID, 150)
			if err != nil {
				t.Error(err)
			}
			wins <- ok
		}()
	}
	wg.Wait()
	close(wins)
	n := 0
	for ok := range wins {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Errorf("8 racing UseTOTPStep(150): %d accepted, want 1", n)
	}
	// Recovery codes: once each, not across tenants.
	if ok, _ := s.UseRecoveryCode(ctx, b, u.ID, hashes[0]); ok {
		t.Error("UseRecoveryCode of a's user from b = true")
	}
	for i, want := range []bool{true, false} {
		if ok, err := s.UseRecoveryCode(ctx, a, u.ID, hashes[0]); ok != want || err != nil {
			t.Errorf("UseRecoveryCode #%d = %v, %v; want %v", i+1, ok, err, want)
		}
	}
	if ok, _ := s.UseRecoveryCode(ctx, a, u.ID, []byte("never stored")); ok {
		t.Error("UseRecoveryCode(unknown) = true")
	}
	if got, _ := s.TOTP(ctx, a, u.ID); got.RecoveryLeft != 1 {
		t.Errorf("RecoveryLeft = %d, want 1", got.RecoveryLeft)
	}
	// Sealed at rest, and bound to its user.
	if bytes.Contains(h.Dump(t), secret) {
		t.Error("the store holds the TOTP secret in the clear")
	}
	v, err := s.CreateUser(ctx, a, bulwark.User{Email: "vic@a.test", Role: bulwark.RoleMember}, "h")
	must(err)
	must(s.PutPendingTOTP(ctx, a, v.ID, []byte("vic's")))
	h.Exec(t, `UPDATE user_totp SET secret_ct = (SELECT secret_ct FROM user_totp WHERE tenant_id = ? AND user_id = ?) WHERE tenant_id = ? AND user_id = ?`, a, u.ID, a, v.ID)
	moved, err := s.TOTP(ctx, a, v.ID)
	checkDoesNotOpen(t, "a TOTP secret moved to another user", moved, err, string(secret))
	// Deleted: by b, nothing; by a, gone; a second time NotFound.
	if err := s.DeleteTOTP(ctx, b, u.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("DeleteTOTP of a's user from b = %v, want NotFound", err)
	}
	must(s.DeleteTOTP(ctx, a, u.ID))
	if _, err := s.TOTP(ctx, a, u.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("TOTP after DeleteTOTP = %v, want NotFound", err)
	}
	if err := s.DeleteTOTP(ctx, a, u.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("DeleteTOTP twice = %v, want NotFound", err)
	}
	// Deleting the user deletes its factor.
	must(s.PutPendingTOTP(ctx, a, u.ID, secret))
	must(s.EnableTOTP(ctx, a, u.ID, 1, hashes))
	if _, _, err := s.DeleteUser(ctx, a, u.ID); err != nil {
		t.Fatal(err)
	}
	if ids, _ := s.TwoFactorUsers(ctx, a); len(ids) != 0 {
		t.Errorf("TwoFactorUsers after the user's deletion = %v", ids)
	}
}
