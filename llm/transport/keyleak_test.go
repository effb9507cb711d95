package transport

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// A server that quotes the key it was sent in its error (a gateway, a
// misconfigured proxy, a hostile endpoint) gets none of it into the error's
// message or cause: not as sent, not encoded, not a part cut short by the
// 200-character limit (red team, session 42: the key's first 19 of 26
// characters came out when it stood at character 181).
func TestErrorsQuoteNoPartOfTheKey(t *testing.T) {
	const key = "sk-Oper+Key/abcdef1234567890XYZ"
	const plain = "Zq7TfKp2LmNx9VbR4sWd8HjYcE" // no key-shaped prefix: only the exact value finds it
	forms := map[string]func(string) string{
		"as sent": func(k string) string { return k },
		"hex":     func(k string) string { return hex.EncodeToString([]byte(k)) },
		"base64":  func(k string) string { return base64.StdEncoding.EncodeToString([]byte(k)) },
		"query":   url.QueryEscape,
		"path":    url.PathEscape,
	}
	for _, k := range []string{key, plain} {
		for form, enc := range forms {
			for _, pad := range []int{0, 170, 175, 180, 185, 190, 195} {
				quoted := enc(k)
				body, _ := json.Marshal(map[string]any{"error": map[string]string{"message": strings.Repeat("x", pad) + " " + quoted}})
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(400)
					w.Write(body)
				}))
				h := &HTTP{Provider: "openai", KeyEnv: "OPENAI_API_KEY", Client: srv.Client(), Secrets: []string{k}}
				_, err := h.Do(t.Context(), func(ctx context.Context) (*http.Request, error) {
					return http.NewRequestWithContext(ctx, "POST", srv.URL, nil)
				})
				srv.Close()
				if bulwark.ErrorKind(err) != bulwark.Invalid {
					t.Fatalf("%s, pad %d: Do = %v, want Invalid", form, pad, err)
				}
				text := bulwark.ErrorMessage(err) + "\n" + fmt.Sprint(errors.Unwrap(err))
				if leaked := leakedPart(text, quoted); leaked != "" {
					t.Errorf("%s of %q, pad %d: the error holds %q of it: %s", form, k, pad, leaked, text)
				}
			}
		}
	}
}

// leakedPart returns the longest prefix of quoted, 6 characters or more,
// that text holds, or "".
func leakedPart(text, quoted string) string {
	for n := len(quoted); n >= 6; n-- {
		if strings.Contains(text, quoted[:n]) {
			return quoted[:n]
		}
	}
	return ""
}
