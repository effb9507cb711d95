package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/server"
	"github.com/bulwark-agents/bulwark/totp"
)

// testTwoFactor: a user turns two-factor login on from the Account page
// (the QR code loads, as an image the server draws, under the page's
// CSP), gets ten recovery codes; the next login asks for a code after
// the password, and a recovery code logs in.
func testTwoFactor(t *testing.T, b *browser, s *e2eServer) {
	const email = "second@e2e.test"
	hash, err := server.HashPassword(testPassword, server.PasswordParams{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.CreateUser(context.Background(), s.tenant, bulwark.User{Email: email, Role: bulwark.RoleMember}, hash); err != nil {
		t.Fatal(err)
	}
	login := func() {
		b.open(s.URL + "/login")
		b.wait("the login page", `location.pathname === '/login' && document.querySelector('input[name=email]')`)
		b.typeInto("input[name=email]", email)
		b.typeInto("input[name=password]", testPassword)
		b.click("form button[type=submit]")
	}
	b.open(s.URL + "/tasks")
	b.click("#logout")
	b.wait("the login page", `location.pathname === '/login'`)
	login()
	b.wait("the task list after login", `location.pathname === '/tasks'`)

	b.open(s.URL + "/account")
	b.typeInto("#totp-password", testPassword)
	b.clickText("button", "Turn on two-factor login")
	b.wait("the QR code and the secret", `document.querySelector('#totp-qr') && document.querySelector('#totp-qr').complete &&
		document.querySelector('#totp-qr').naturalWidth > 0 && document.querySelector('#totp-secret').innerText.length >= 32`)
	b.shot("two-factor-enrol")
	secret, err := totp.DecodeSecret(b.text("#totp-secret"))
	if err != nil {
		t.Fatal(err)
	}
	b.typeInto("#totp-code", totp.Code(secret, totp.Step(time.Now())))
	b.click("#two-factor button[type=submit]")
	b.wait("the recovery codes", `document.querySelectorAll('#recovery-codes li').length === 10`)
	recovery := strings.Fields(b.text("#recovery-codes"))
	if len(recovery) != 10 {
		t.Fatalf("recovery codes shown: %q", recovery)
	}
	b.noProblems("/account")

	b.click("#logout")
	b.wait("the login page", `location.pathname === '/login'`)
	login()
	b.wait("the code step", `!document.querySelector('#login-code-step').hidden && document.querySelector('.error')`)
	if path := b.path(); path != "/login" {
		t.Fatalf("the password alone went to %s", path)
	}
	b.shot("two-factor-login")
	b.typeInto("#login-code", recovery[0])
	b.click("form button[type=submit]")
	b.wait("the task list after the second factor, as the user", `location.pathname === '/tasks' && document.querySelector('#who').innerText === '`+email+`'`)
}
