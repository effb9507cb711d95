package egress

// This file holds the rules by which the proxy puts secret values into a
// sandbox's requests: only for the hosts a secret is bound to, only over
// TLS that the proxy itself verified, and with the values masked out of
// what comes back.

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Secret is a value the proxy puts into requests in place of its
// placeholder, for connections to the hosts it is bound to.
//
// The value goes into request header values only, unless InURL or InBody
// says otherwise: a bound host that stores what it is sent (a git host's
// API) hands a value put into a body or a URL back transformed (gzip, a
// packfile, base64 in JSON), where no masker recognises it. A placeholder
// where its secret may not go refuses the request (see Intercept).
type Secret struct {
	Name        string
	Placeholder string // what the sandboxed code writes, e.g. {{secret:NAME}}
	Value       string
	Hosts       Allowlist // the hosts the value may be sent to; never empty
	InURL       bool      // the value may also go into the path and query
	InBody      bool      // the value may also go into the body
}

// places names where s's value may go, for messages: "headers",
// "headers and the URL", ...
func (s Secret) places() string {
	switch {
	case s.InURL && s.InBody:
		return "headers, the URL and the body"
	case s.InURL:
		return "headers and the URL"
	case s.InBody:
		return "headers and the body"
	}
	return "headers only"
}

// Intercept is what the proxy needs to put secrets into a sandbox's HTTPS
// requests: the task's CA (which only that sandbox trusts), the secrets,
// and the roots with which it verifies the real servers.
type Intercept struct {
	CA      *CA
	Secrets []Secret
	// Roots verifies the certificates of the real servers; nil means the
	// host's system roots. Tests set a pool holding their server's root.
	Roots *x509.CertPool
	// Revoked, when set, says whether a secret was deleted or changed
	// since the sandbox began: its placeholder then refuses the request
	// as one bound to another host does (its value is still masked in
	// answers).
	Revoked func(name string) bool
}

// NewIntercept checks secrets and makes a new task CA for them. A secret
// without a name, placeholder, value or host is an error: an unbound
// secret has no place in the proxy.
func NewIntercept(secrets []Secret) (*Intercept, error) {
	for _, s := range secrets {
		if s.Name == "" || s.Placeholder == "" || s.Value == "" || len(s.Hosts) == 0 {
			return nil, fmt.Errorf("egress: secret %q needs a placeholder, a value and at least one host", s.Name)
		}
		if s.Hosts.AnyHost() {
			return nil, fmt.Errorf("egress: secret %q is bound to every host (*), which binds it to none", s.Name)
		}
	}
	ca, err := NewCA()
	if err != nil {
		return nil, err
	}
	return &Intercept{CA: ca, Secrets: secrets}, nil
}

// errSecretRefused is the error of a request that carried the placeholder
// of a secret that may not go where the request went, or where in the
// request it was.
type errSecretRefused struct {
	secret, host, why string
}

func (e *errSecretRefused) Error() string {
	return fmt.Sprintf("bulwark egress proxy: the request carries the placeholder of secret %s, which %s; it was not sent to %s", e.secret, e.why, e.host)
}

// place is a part of a request a placeholder can be in.
type place int

const (
	inHeader     place = iota // a header value
	inURL                     // the request target: path and query
	inBody                    // the body, however framed
	inHeaderName              // a header's name: never a value's place
	inHost                    // the Host header or CONNECT authority: never either
)

var placeNames = [...]string{inHeader: "a header", inURL: "the URL", inBody: "the body", inHeaderName: "a header name", inHost: "the host name"}

// allows reports whether s's value may be put into place pl.
func (s Secret) allows(pl place) bool {
	switch pl {
	case inHeader:
		return true
	case inURL:
		return s.InURL
	case inBody:
		return s.InBody
	}
	return false
}

// placeholderForms are the spellings of a placeholder the proxy recognises:
// as written, and percent-encoded as URL and form encoders write it. The
// value put in for an encoded form is percent-encoded too.
func placeholderForms(p string) []string {
	enc := url.QueryEscape(p) // {{secret:X}} -> %7B%7Bsecret%3AX%7D%7D
	forms := []string{p, enc}
	if half := strings.ReplaceAll(enc, "%3A", ":"); half != enc {
		forms = append(forms, half)
	}
	return forms
}

// requestRules are the rules for place pl of a request to host: the
// placeholders of the secrets bound to host that may go into pl become
// their values (percent-encoded in the URL); those of the others refuse
// the request. With tls false every placeholder refuses: secrets never
// travel in clear text. A refusing rule matches the placeholder in any
// spelling (percent, JSON or HTML escapes, any case, broken by line
// breaks), so that no form of it leaves unseen; replacing rules take the
// forms placeholderForms names, listed first, so that of two matches at
// one place the value's wins.
func (ic *Intercept) requestRules(host string, tls bool, pl place) []rule {
	var put, refuse []rule
	for _, s := range ic.Secrets {
		bound := s.Hosts.Allows(host)
		revoked := ic.Revoked != nil && ic.Revoked(s.Name)
		if !bound || !tls || !s.allows(pl) || revoked {
			why := "is not bound to this host"
			switch {
			case revoked:
				why = "was deleted or changed since the task began"
			case !tls:
				why = "is sent only over HTTPS"
			case pl == inHeaderName || pl == inHost:
				why = "is never put into " + placeNames[pl]
			case bound:
				why = "may be put into " + s.places() + ", not " + placeNames[pl] + " (its owner can allow more with bulwark secrets set " + s.Name + " --inject)"
			}
			refuse = append(refuse, rule{needle: s.Placeholder, secret: s.Name, refuse: true, escaped: true, why: why})
			continue
		}
		for i, f := range placeholderForms(s.Placeholder) {
			r := rule{needle: f, secret: s.Name, repl: s.Value}
			if i > 0 || pl == inURL { // a value in a URL is percent-encoded, whatever the form
				r.repl, r.encoded = url.QueryEscape(s.Value), i > 0
			}
			put = append(put, r)
		}
	}
	return append(put, refuse...)
}

// placeholderIn returns the refusal of the first placeholder s holds, in
// any spelling, in place pl of a request to host, where no value is put;
// nil when it holds none.
func (ic *Intercept) placeholderIn(host, s string, pl place) *errSecretRefused {
	_, err := replaceString(s, ic.refuseAll(host, pl), refuser(host, nil))
	e, _ := asRefused(err)
	return e
}

// refuseAll are rules that refuse every secret's placeholder, in any
// spelling, in place pl, where no value is ever put.
func (ic *Intercept) refuseAll(host string, pl place) []rule {
	return ic.requestRules(host, true, pl)
}

// maskRules turn every secret value back into its placeholder, for what
// the server answers (it may echo what it was sent).
func (ic *Intercept) maskRules() []rule {
	var rules []rule
	for _, s := range ic.Secrets {
		// As written, and percent- or JSON-escaped in any spelling.
		rules = append(rules, rule{needle: s.Value, repl: s.Placeholder, secret: s.Name, escaped: true})
		// Base64 and hex, escaped too ('/' as \/), and broken into lines.
		for _, n := range encodedValue(s.Value) {
			rules = append(rules, rule{needle: n, repl: s.Placeholder, secret: s.Name, escaped: true})
		}
	}
	return rules
}

// encodedValue returns the base64 (both alphabets, at each of the three
// alignments a value can take inside longer data, without the characters
// that depend on the bytes around it), hex, JSON and percent forms of
// value, so that a server echoing the value re-encoded (an API that
// returns stored content as base64) does not hand it to the sandbox.
// Forms shorter than 8 characters are left out: they would mask ordinary
// text.
func encodedValue(value string) []string {
	var out []string
	for pad := 0; pad < 3; pad++ {
		src := strings.Repeat("\x00", pad) + value
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			e := enc.EncodeToString([]byte(src))
			start := (pad*4 + 2) / 3
			end := len(strings.TrimRight(e, "=")) - 2
			if end-start >= 8 {
				out = append(out, e[start:end])
			}
		}
	}
	if h := hex.EncodeToString([]byte(value)); len(h) >= 8 {
		out = append(out, h, strings.ToUpper(h))
	}
	// JSON string escapes: encoding/json's (\u0026 for &, \u003c, ...)
	// and "\/" for "/", as PHP and others write it.
	if b, err := json.Marshal(value); err == nil {
		if j := string(b[1 : len(b)-1]); j != value {
			out = append(out, j)
		}
	}
	if strings.Contains(value, "/") {
		out = append(out, strings.ReplaceAll(value, "/", `\/`))
	}
	// Percent-encoded, as the proxy puts it into a URL: a server that
	// echoes that URL encoded once more (a login redirect's ?next=) has
	// it twice encoded, and the masker decodes one level.
	for _, e := range []string{url.QueryEscape(value), url.PathEscape(value)} {
		if e != value {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// refuser returns an onHit function that turns a refusing rule into an
// errSecretRefused for host and records the names used in used.
func refuser(host string, used map[string]bool) func(rule) error {
	return func(r rule) error {
		if !r.refuse {
			if used != nil {
				used[r.secret] = true
			}
			return nil
		}
		return &errSecretRefused{secret: r.secret, host: host, why: r.why}
	}
}

// asRefused finds an errSecretRefused in err.
func asRefused(err error) (*errSecretRefused, bool) {
	var e *errSecretRefused
	ok := errors.As(err, &e)
	return e, ok
}

// maxSecretHosts is the most host patterns one secret may be bound to.
const maxSecretHosts = 32

// MaxSecretHosts is how many hosts BindingHosts accepts.
const MaxSecretHosts = maxSecretHosts

// String returns the pattern as ParsePattern reads it ("*.example.com").
func (p Pattern) String() string {
	if p.any {
		return AnyHost
	}
	if p.wildcard {
		return "*." + p.host
	}
	return p.host
}

// BindingHosts checks the host patterns a secret is bound to and returns
// them canonical (lowercase, no final dot), sorted, each once. A pattern is
// a host name or "*." and a domain (its subdomains, not itself); addresses
// are refused, since a secret is bound to a name that a certificate proves,
// and so are other wildcards ("*", every host, would bind it to none) and
// more than 32 patterns.
func BindingHosts(hosts []string) ([]string, error) {
	if len(hosts) > maxSecretHosts {
		return nil, fmt.Errorf("a secret may be bound to at most %d hosts", maxSecretHosts)
	}
	var out []string
	for _, h := range hosts {
		p, err := ParsePattern(h)
		if err != nil {
			return nil, fmt.Errorf("host %q: write a host name such as api.example.com, or *.example.com for its subdomains (no addresses, ports or other wildcards)", h)
		}
		if p.any {
			// A secret sent to every host is bound to none.
			return nil, fmt.Errorf("host %q: a secret cannot be bound to every host; name the hosts its value is for (api.example.com, *.example.com)", h)
		}
		if p.wildcard && !strings.Contains(p.host, ".") {
			return nil, fmt.Errorf("host %q: a wildcard must be under a domain with at least two labels (*.example.com, not *.com)", h)
		}
		out = append(out, p.String())
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
