package secret

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
)

// Realistic-looking but fake credentials, built at run time so that the
// repository holds no string a secret scanner would flag.
var (
	fakeAWS       = "AKIA" + "IOSFODNN7EXAMPLE"
	fakeASIA      = "ASIA" + "Z7Q2MXK4PLW8RT3N"
	fakeGoogle    = "AIza" + "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"
	fakeGHP       = "ghp_" + "aBcdEfGhIjKlMnOpQrStUvWxYz0123456789"
	fakeGHS       = "ghs_" + "16C7e42F292c6912E7710c838347Ae178B4a"
	fakeGHO       = "gho_" + "16C7e42F292c6912E7710c838347Ae178B4a"
	fakeGHU       = "ghu_" + "16C7e42F292c6912E7710c838347Ae178B4a"
	fakePAT       = "github_pat_" + "11ABCDEFG0abcdefghijkl_mnopQRSTUVwxyz0123456789abcdefABCDEFGHIJ"
	fakeGitLab    = "glpat-" + "xY9zAbC3dEfGhIjKlMnO"
	fakeOpenAI    = "sk-" + "T3BlbkFJx9Qm2Lk4Zp7Rv1Ws8Yt6Ub3Nc5Md0Ae"
	fakeOpenAIPrj = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_-Zq7Yx0Wv3Ut6Sr9Qp"
	fakeAnthropic = "sk-ant-" + "api03-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAA"
	fakeSlack     = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
	fakeSlackHook = "hooks.slack.com/" + "services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
	fakeStripe    = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
	fakeStripeRK  = "rk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
	fakeJWT       = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" + ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ" + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	fakeBulwark   = "bwk_" + "Zq7Yx0Wv3Ut6Sr9QpAb3dEf6"
	fakePEM       = "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\naFDrBz9vFqU4yQIDAQABAoIBAQC\n-----END RSA PRIVATE KEY-----"
	fakeOpenSSH   = "-----BEGIN " + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----"
)

type redactTest struct {
	in, want string
}

func mask(kind string) string { return "[REDACTED:" + kind + "]" }

var patternTests = []redactTest{
	{"key " + fakeAWS + " here", "key " + mask(KindAWSAccessKey) + " here"},
	{"AWS_ACCESS_KEY_ID=" + fakeASIA, "AWS_ACCESS_KEY_ID=" + mask(KindAWSAccessKey)},
	{`"` + fakeGoogle + `"`, `"` + mask(KindGoogleAPIKey) + `"`},
	{"token " + fakeGHP, "token " + mask(KindGitHubToken)},
	{fakeGHS + "\n" + fakeGHO + " " + fakeGHU, mask(KindGitHubToken) + "\n" + mask(KindGitHubToken) + " " + mask(KindGitHubToken)},
	{"(" + fakePAT + ")", "(" + mask(KindGitHubToken) + ")"},
	{"gitlab: " + fakeGitLab, "gitlab: " + mask(KindGitLabToken)},
	{"use " + fakeOpenAI + ".", "use " + mask(KindOpenAIKey) + "."},
	{"using " + fakeOpenAIPrj, "using " + mask(KindOpenAIKey)},
	{"'" + fakeAnthropic + "'", "'" + mask(KindAnthropicKey) + "'"},
	{"slack " + fakeSlack, "slack " + mask(KindSlackToken)},
	{"POST https://" + fakeSlackHook + " ok", "POST https://" + mask(KindSlackWebhook) + " ok"},
	{"stripe " + fakeStripe + " " + fakeStripeRK, "stripe " + mask(KindStripeKey) + " " + mask(KindStripeKey)},
	{"Cookie: session=" + fakeJWT + "; path=/", "Cookie: session=" + mask(KindJWT) + "; path=/"},
	{"alg none " + fakeJWT[:strings.LastIndexByte(fakeJWT, '.')+1] + " end", "alg none " + mask(KindJWT) + " end"},
	{"before\n" + fakePEM + "\nafter", "before\n" + mask(KindPrivateKey) + "\nafter"},
	{fakeOpenSSH, mask(KindPrivateKey)},
	{"-----BEGIN " + "PRIVATE KEY-----\nMIIEvQIB", mask(KindPrivateKey)}, // no END: masked to the end
	{"redis://:s3cr3t@cache:6379/0", "redis://:" + mask(KindURLPassword) + "@cache:6379/0"},
	{"DATABASE_URL=postgres://app:Tr0ub4dor&3@db.internal/app", "DATABASE_URL=postgres://app:" + mask(KindURLPassword) + "@db.internal/app"},
	{"use " + fakeBulwark + " now", "use " + mask(KindBulwarkKey) + " now"},

	// Assignments.
	{"PASSWORD=changeme", "PASSWORD=" + mask(KindPassword)},
	{"export DB_PASSWORD='correct horse battery staple'", "export DB_PASSWORD='" + mask(KindPassword) + "'"},
	{"password: hunter2\nuser: bob", "password: " + mask(KindPassword) + "\nuser: bob"},
	{`{"password": "p\"w", "user": "bob"}`, `{"password": "` + mask(KindPassword) + `", "user": "bob"}`},
	{"mysql_pwd=abc", "mysql_pwd=" + mask(KindPassword)},
	{"passphrase = letmein", "passphrase = " + mask(KindPassword)},
	{"OPENAI_API_KEY=Zk29dkfjDKj3ks93kdQ", "OPENAI_API_KEY=" + mask(KindAssignedSecret)},
	{`{"client_secret":"9f86d081884c7d659a2feaa0c55ad015"}`, `{"client_secret":"` + mask(KindAssignedSecret) + `"}`},
	{"access_token: dGhpcyBpcyBhIHRlc3Q=", "access_token: " + mask(KindAssignedSecret)},
	{"apiKey := \"Xk9fQ2mZa81\"", "apiKey := \"" + mask(KindAssignedSecret) + "\""},
	{"Authorization: Bearer abcdefghijkl123", "Authorization: Bearer " + mask(KindAuthorization)},
	{"authorization: Basic dXNlcjpwYXNz", "authorization: Basic " + mask(KindAuthorization)},
	{`{"Authorization": "Bearer tok-123.abc"}`, `{"Authorization": "Bearer ` + mask(KindAuthorization) + `"}`},
	{"x-api-key: Q2hhbmdlTWUxMjM0NTY", "x-api-key: " + mask(KindAssignedSecret)},
}

// benign texts must come out unchanged.
var benign = []string{
	"The quick brown fox jumps over the lazy dog.",
	"pip install sk-learn scikit-learn; sk-learn-extensions-are-cool-and-many",
	"commit 3f786850e387550fdab836ed7e6dc881de23001b\nAuthor: A <a@example.com>",
	"fixed in 9c1185a5c5e9fc54612808977ee8f548b2258d31 and e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"request 123e4567-e89b-12d3-a456-426614174000 done; trace_id: 550e8400-e29b-41d4-a716-446655440000",
	"See https://example.com:8443/path?q=1#frag and http://user@host/ and mailto:a@b.c",
	"sort_key=created_at primary_key: id monkey: banana",
	"key: the important thing; token: none",
	"PWD=/home/user OLDPWD=/tmp",
	"password: ${DB_PASSWORD} password={{secret:DB}} password=$DB_PASS password: <your-password>",
	"password = os.environ['DB_PASSWORD']; token = process.env.TOKEN",
	"password: null\npassword: \"\"\npassword: ********",
	"class Login(BaseModel):\n    password: str\n    api_key: SecretStr\n",
	"if a == b and c != d or e <= f and g >= h: x = y",
	"x => y; a::b; c := d",
	"AKIAshort AKIAIOSFODNN7EXAMPLEXTRA notAKIAIOSFODNN7EXAMPLE",
	"eyJ is how base64 JSON starts; eyJhbGciOiJIUzI1NiJ9 alone is not a token",
	"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
	"-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
	"ghp_short gho_ xoxb- bwk_ glpat-short sk_live_ rk_test_x",
	"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
	"[REDACTED:x] password=[REDACTED:DB_PASSWORD] token: [REDACTED:jwt]",
	"ratio 3:1 at 12:30:45; map[key:value] a=1 b=2",
}

func TestPatterns(t *testing.T) {
	r := NewRedactor()
	for _, tt := range patternTests {
		if got := r.String(tt.in); got != tt.want {
			t.Errorf("String(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestBenign(t *testing.T) {
	r := NewRedactor()
	for _, s := range benign {
		if got := r.String(s); got != s {
			t.Errorf("String(%q) = %q, want it unchanged", s, got)
		}
	}
}

// TestBenignBase64 checks that large base64 blobs (images, archives) are
// not partly masked by the patterns nor by the encodings of registered
// values.
func TestBenignBase64(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	blob := make([]byte, 1<<20)
	for i := range blob {
		blob[i] = byte(rng.Uint32())
	}
	r := NewRedactor()
	for i := range 100 {
		r.Add(fmt.Sprintf("S%d", i), randomSecret(rng, 8+i%40))
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
		s := enc.EncodeToString(blob)
		if got := r.String(s); got != s {
			i := firstDiff(got, s)
			t.Errorf("base64 blob changed at %d: %q", i, got[i:min(len(got), i+60)])
		}
	}
	h := hex.EncodeToString(blob[:1<<16])
	if got := r.String(h); got != h {
		t.Errorf("hex blob changed at %d", firstDiff(got, h))
	}
}

func TestDetectionOff(t *testing.T) {
	r := NewRedactor()
	r.SetDetection(false)
	if r.Detection() {
		t.Fatal("Detection() = true after SetDetection(false)")
	}
	for _, tt := range patternTests {
		if got := r.String(tt.in); got != tt.in {
			t.Errorf("with detection off, String(%q) = %q, want it unchanged", tt.in, got)
		}
	}
}

func TestHighEntropy(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"changeme", false}, {"created_at", false}, {"2024-01-01", false}, {"abc123", false},
		{"Xk9fQ2mZ", true}, {"9f86d081884c7d659a2feaa0c55ad015", true}, {"dGhpcyBpcyBhIHRlc3Q=", true},
	} {
		if got := highEntropy([]byte(tt.in)); got != tt.want {
			t.Errorf("highEntropy(%q) = %v, want %v (entropy %.2f)", tt.in, got, tt.want, entropy([]byte(tt.in)))
		}
	}
}

func randomSecret(rng *mrand.Rand, n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_!@#%^*"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[rng.IntN(len(chars))]
	}
	return string(b)
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
