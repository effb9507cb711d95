package totp

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rfc4226Vectors are RFC 4226 Appendix D: HOTP of "12345678901234567890"
// for counters 0 to 9.
var rfc4226Vectors = []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}

func TestHOTPVectors(t *testing.T) {
	key := []byte("12345678901234567890")
	for c, want := range rfc4226Vectors {
		if got := HOTP(sha1.New, key, uint64(c), 6); got != want {
			t.Errorf("HOTP(counter %d) = %s, want %s", c, got, want)
		}
	}
}

// rfc6238Vectors are RFC 6238 Appendix B: 8-digit TOTP at the given
// Unix times, for SHA-1, SHA-256 and SHA-512 with the RFC's seeds.
var rfc6238Vectors = []struct {
	unix         int64
	sha1, sha256 string
	sha512       string
}{
	{59, "94287082", "46119246", "90693936"},
	{1111111109, "07081804", "68084774", "25091201"},
	{1111111111, "14050471", "67062674", "99943326"},
	{1234567890, "89005924", "91819424", "93441116"},
	{2000000000, "69279037", "90698825", "38618901"},
	{20000000000, "65353130", "77737706", "47863826"},
}

func TestTOTPVectors(t *testing.T) {
	seed20 := []byte("12345678901234567890")
	seed32 := []byte(strings.Repeat("1234567890", 3) + "12")
	seed64 := []byte(strings.Repeat("1234567890", 6) + "1234")
	for _, v := range rfc6238Vectors {
		step := uint64(Step(time.Unix(v.unix, 0)))
		for _, c := range []struct {
			name string
			h    func() hash.Hash
			key  []byte
			want string
		}{{"SHA-1", sha1.New, seed20, v.sha1}, {"SHA-256", sha256.New, seed32, v.sha256}, {"SHA-512", sha512.New, seed64, v.sha512}} {
			if got := HOTP(c.h, c.key, step, 8); got != c.want {
				t.Errorf("TOTP %s at %d = %s, want %s", c.name, v.unix, got, c.want)
			}
		}
		// The six digits apps show are the last six of the eight.
		if got := Code(seed20, int64(step)); got != v.sha1[2:] {
			t.Errorf("Code at %d = %s, want %s", v.unix, got, v.sha1[2:])
		}
	}
}

// TestMatchWindow: a code matches in its own step and one either side,
// never two away; the step returned is the code's own.
func TestMatchWindow(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1234567890, 0)
	cur := Step(now)
	for _, c := range []struct {
		step int64
		ok   bool
	}{{cur, true}, {cur - 1, true}, {cur + 1, true}, {cur - 2, false}, {cur + 2, false}} {
		step, ok := Match(secret, Code(secret, c.step), now)
		if ok != c.ok || ok && step != c.step {
			t.Errorf("Match(code of step %+d) = %d, %v; want %v", c.step-cur, step-cur, ok, c.ok)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := Match(secret, bad, now); ok {
			t.Errorf("Match(%q) = true", bad)
		}
	}
}

func TestSecretRoundTrip(t *testing.T) {
	s := NewSecret()
	if len(s) != SecretLen {
		t.Fatalf("len(NewSecret()) = %d", len(s))
	}
	enc := EncodeSecret(s)
	for _, in := range []string{enc, strings.ToLower(enc), enc[:4] + " " + enc[4:]} {
		got, err := DecodeSecret(in)
		if err != nil || string(got) != string(s) {
			t.Errorf("DecodeSecret(%q) = %x, %v; want %x", in, got, err, s)
		}
	}
	if _, err := DecodeSecret("not base32!"); err == nil {
		t.Error("DecodeSecret(garbage) succeeded")
	}
}

func TestURL(t *testing.T) {
	u, err := url.Parse(URL("Bulwark acme", "ann@example.com", []byte("12345678901234567890")))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Bulwark acme:ann@example.com" ||
		q.Get("secret") != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" || q.Get("issuer") != "Bulwark acme" || q.Get("digits") != "6" || q.Get("period") != "30" {
		t.Errorf("URL = %s", u)
	}
}
