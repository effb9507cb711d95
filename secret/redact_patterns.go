package secret

import (
	"bytes"
	"math"
	"slices"
)

// Kinds of secret-looking strings the pattern stage masks; the mask reads
// "[REDACTED:kind]".
const (
	KindAWSAccessKey   = "aws_access_key"  // AKIA/ASIA/ABIA/ACCA + 16 upper-case letters or digits
	KindGoogleAPIKey   = "google_api_key"  // AIza + 35 characters
	KindGitHubToken    = "github_token"    // ghp_, gho_, ghs_, ghu_, ghr_, github_pat_
	KindGitLabToken    = "gitlab_token"    // glpat-
	KindOpenAIKey      = "openai_key"      // sk-..., sk-proj-... (random-looking body)
	KindAnthropicKey   = "anthropic_key"   // sk-ant-...
	KindSlackToken     = "slack_token"     // xoxa-, xoxb-, xoxp-, xoxr-, xoxs-, xoxe-
	KindSlackWebhook   = "slack_webhook"   // hooks.slack.com/...
	KindStripeKey      = "stripe_key"      // sk_live_, rk_live_, sk_test_, rk_test_
	KindJWT            = "jwt"             // eyJ...eyJ...sig
	KindPrivateKey     = "private_key"     // a PEM block whose type ends in PRIVATE KEY
	KindURLPassword    = "url_password"    // the password of scheme://user:PASS@host
	KindBulwarkKey     = "bulwark_key"     // bwk_...
	KindPassword       = "password"        // any value assigned to a *PASSWORD, *PASSWD, *PWD, *PASSPHRASE name
	KindAuthorization  = "authorization"   // the credential of an Authorization value
	KindAssignedSecret = "assigned_secret" // a high-entropy value assigned to a *KEY, *TOKEN, *SECRET name
)

// Pattern detection runs one switch per byte: only bytes that can start a
// pattern ('A', 'b', 'e', 'g', 'h', 'r', 's', 'x' at a word start; '-' of
// "-----BEGIN"; '=' and ':' of an assignment or URL) lead to a closer look,
// and each closer look compares a few literal bytes before scanning on. Every
// matcher decides only on bytes it has seen: when the outcome depends on
// bytes past the end of the text and more may come, it asks for them (need),
// so a stream split anywhere gives the same result as the whole text.

const (
	lookback   = 128      // bytes before a position the matchers may read
	tokenCap   = 1 << 10  // longest token body; a longer one is masked up to here
	jwtCap     = 16 << 10 // longest JWT part
	pemCap     = 64 << 10 // longest PEM block; a longer one is masked up to here
	valueCap   = 4 << 10  // longest assigned value
	minEntropy = 3.0      // bits per byte, for assigned values of 12+ bytes
)

type tokenSpec struct {
	prefix string
	kind   string
	class  *[256]bool
	min    int
	max    int  // the body is cut (and masked) here, unless exact
	exact  bool // the body is exactly min bytes and no letter or digit follows
	random bool // the body must mix upper case, lower case and digits
}

// The byte classes (alnum, upperNum, word, urlToken, hookPath, jwtSig,
// pemHead, nameChar, scheme, urlUser, urlPass, valueRun, spaceTab, and
// b64Char and labelChar) are in redact_classes.go, generated from
// classSpecs (redact_classes_test.go).

// tokens lists, per first byte, the token patterns tried there, longest
// prefix first.
var tokens = [256][]tokenSpec{
	'A': {
		{prefix: "AKIA", kind: KindAWSAccessKey, class: &upperNum, min: 16, max: 16, exact: true},
		{prefix: "ASIA", kind: KindAWSAccessKey, class: &upperNum, min: 16, max: 16, exact: true},
		{prefix: "ABIA", kind: KindAWSAccessKey, class: &upperNum, min: 16, max: 16, exact: true},
		{prefix: "ACCA", kind: KindAWSAccessKey, class: &upperNum, min: 16, max: 16, exact: true},
		{prefix: "AIza", kind: KindGoogleAPIKey, class: &urlToken, min: 35, max: 35, exact: true},
	},
	'g': {
		{prefix: "github_pat_", kind: KindGitHubToken, class: &word, min: 22, max: tokenCap},
		{prefix: "ghp_", kind: KindGitHubToken, class: &alnum, min: 36, max: tokenCap},
		{prefix: "gho_", kind: KindGitHubToken, class: &alnum, min: 36, max: tokenCap},
		{prefix: "ghs_", kind: KindGitHubToken, class: &alnum, min: 36, max: tokenCap},
		{prefix: "ghu_", kind: KindGitHubToken, class: &alnum, min: 36, max: tokenCap},
		{prefix: "ghr_", kind: KindGitHubToken, class: &alnum, min: 36, max: tokenCap},
		{prefix: "glpat-", kind: KindGitLabToken, class: &urlToken, min: 20, max: tokenCap},
	},
	's': {
		{prefix: "sk-ant-", kind: KindAnthropicKey, class: &urlToken, min: 20, max: tokenCap},
		{prefix: "sk-", kind: KindOpenAIKey, class: &urlToken, min: 20, max: tokenCap, random: true},
		{prefix: "sk_live_", kind: KindStripeKey, class: &alnum, min: 10, max: tokenCap},
		{prefix: "sk_test_", kind: KindStripeKey, class: &alnum, min: 10, max: tokenCap},
	},
	'r': {
		{prefix: "rk_live_", kind: KindStripeKey, class: &alnum, min: 10, max: tokenCap},
		{prefix: "rk_test_", kind: KindStripeKey, class: &alnum, min: 10, max: tokenCap},
	},
	'x': {
		{prefix: "xoxa-", kind: KindSlackToken, class: &urlToken, min: 10, max: tokenCap},
		{prefix: "xoxb-", kind: KindSlackToken, class: &urlToken, min: 10, max: tokenCap},
		{prefix: "xoxp-", kind: KindSlackToken, class: &urlToken, min: 10, max: tokenCap},
		{prefix: "xoxr-", kind: KindSlackToken, class: &urlToken, min: 10, max: tokenCap},
		{prefix: "xoxs-", kind: KindSlackToken, class: &urlToken, min: 10, max: tokenCap},
		{prefix: "xoxe-", kind: KindSlackToken, class: &urlToken, min: 10, max: tokenCap},
	},
	'h': {
		{prefix: "hooks.slack.com/", kind: KindSlackWebhook, class: &hookPath, min: 8, max: tokenCap},
	},
	'b': {
		{prefix: "bwk_", kind: KindBulwarkKey, class: &urlToken, min: 16, max: tokenCap},
	},
}

// trigger marks the bytes at which a pattern can start: the first bytes
// of tokens, and those of a JWT ('e'), a PEM block ('-') and an assigned
// value ('=', ':'). A literal, not a table the package's init fills
// (TestTrigger holds it to tokens).
var trigger = [256]bool{
	'A': true, 'g': true, 's': true, 'r': true, 'x': true, 'h': true, 'b': true,
	'e': true, '-': true, '=': true, ':': true,
}

// scanPatterns masks secret-looking strings in t[start:]; see
// needleSet.scan for the meaning of its arguments and results.
func scanPatterns(dst, t []byte, start int, eof bool) (out []byte, stop int, changed bool) {
	n := len(t)
	last, i := start, start
	stop = n
	for i < n {
		if !trigger[t[i]] {
			i++
			continue
		}
		from, to, kind, need := detectAt(t, i, eof)
		if need {
			stop = i
			break
		}
		if from < 0 {
			i++
			continue
		}
		if !changed {
			dst = slices.Grow(dst, n-start+64)
		}
		dst = append(dst, t[last:from]...)
		dst = appendMask(dst, kind)
		changed = true
		last, i = to, to
	}
	if changed {
		dst = append(dst, t[last:stop]...)
	}
	return dst, stop, changed
}

// detectAt reports the text to mask, t[from:to] (from < 0 for none), for a
// pattern triggered at t[i], or need when that depends on bytes past the
// end of t. It reads at most lookback bytes before i.
func detectAt(t []byte, i int, eof bool) (from, to int, kind string, need bool) {
	lo := max(0, i-lookback)
	switch c := t[i]; c {
	case '=':
		return assignAt(t, i, lo, eof)
	case ':':
		ok, need := prefixAt(t, i, "://", eof)
		if need {
			return -1, 0, "", true
		}
		if ok {
			return urlPasswordAt(t, i, lo, eof)
		}
		return assignAt(t, i, lo, eof)
	case '-':
		return privateKeyAt(t, i, eof)
	default:
		if i > 0 && alnum[t[i-1]] {
			return -1, 0, "", false
		}
		if c == 'e' {
			return jwtAt(t, i, eof)
		}
		return tokenAt(t, i, eof)
	}
}

// prefixAt reports whether t[i:] starts with p, or need when t ends inside
// a possible p.
func prefixAt(t []byte, i int, p string, eof bool) (ok, need bool) {
	rem := len(t) - i
	if rem >= len(p) {
		return string(t[i:i+len(p)]) == p, false
	}
	return false, !eof && string(t[i:]) == p[:rem]
}

// span returns the end of the run of class bytes from j, stopping after max
// bytes; need when the run reaches the end of t first and more may come.
func span(t []byte, j int, class *[256]bool, max int, eof bool) (end int, need bool) {
	lim := min(len(t), j+max)
	k := j
	for k < lim && class[t[k]] {
		k++
	}
	return k, k == len(t) && k-j < max && !eof
}

func tokenAt(t []byte, i int, eof bool) (from, to int, kind string, need bool) {
	for _, s := range tokens[t[i]] {
		ok, need := prefixAt(t, i, s.prefix, eof)
		if need {
			return -1, 0, "", true
		}
		if !ok {
			continue
		}
		body := i + len(s.prefix)
		limit := s.max
		if s.exact {
			limit++ // see the byte after, to refuse a longer run
		}
		end, need := span(t, body, s.class, limit, eof)
		if need {
			return -1, 0, "", true
		}
		if end-body < s.min || s.exact && end-body != s.min {
			continue
		}
		if s.exact && end < len(t) && alnum[t[end]] {
			continue
		}
		if s.exact && end == len(t) && !eof {
			return -1, 0, "", true
		}
		if s.random && !mixed(t[body:end]) {
			continue
		}
		return i, end, s.kind, false
	}
	return -1, 0, "", false
}

// mixed reports whether b has upper-case letters, lower-case letters and
// digits: random keys do, hyphenated words ("sk-learn-...") do not.
func mixed(b []byte) bool {
	var u, l, d bool
	for _, c := range b {
		u = u || 'A' <= c && c <= 'Z'
		l = l || 'a' <= c && c <= 'z'
		d = d || '0' <= c && c <= '9'
	}
	return u && l && d
}

// jwtAt matches header.payload.signature where header and payload are
// base64url JSON objects ("eyJ" is base64 of `{"`); the signature may be
// empty (alg "none").
func jwtAt(t []byte, i int, eof bool) (from, to int, kind string, need bool) {
	j := i
	for part := range 2 {
		ok, need := prefixAt(t, j, "eyJ", eof)
		if need {
			return -1, 0, "", true
		}
		if !ok {
			return -1, 0, "", false
		}
		end, need := span(t, j+3, &urlToken, jwtCap, eof)
		if need {
			return -1, 0, "", true
		}
		if end-j < 8 && part == 0 {
			return -1, 0, "", false
		}
		if end == len(t) {
			return -1, 0, "", !eof
		}
		if t[end] != '.' {
			return -1, 0, "", false
		}
		j = end + 1
	}
	end, need := span(t, j, &jwtSig, jwtCap, eof)
	if need {
		return -1, 0, "", true
	}
	return i, end, KindJWT, false
}

// privateKeyAt masks a PEM block whose type ends in "PRIVATE KEY" (PKCS#1,
// PKCS#8, EC, OpenSSH, encrypted, PGP "PRIVATE KEY BLOCK"), from its BEGIN
// line to the end of its END line. A block with no END line is masked to
// the end of the text, or pemCap bytes.
func privateKeyAt(t []byte, i int, eof bool) (from, to int, kind string, need bool) {
	ok, need := prefixAt(t, i, "-----BEGIN ", eof)
	if need || !ok {
		return -1, 0, "", need
	}
	h := i + len("-----BEGIN ")
	he, need := span(t, h, &pemHead, 64, eof)
	if need {
		return -1, 0, "", true
	}
	if ok, need := prefixAt(t, he, "-----", eof); need || !ok {
		return -1, 0, "", need
	}
	if !bytes.Contains(t[h:he], []byte("PRIVATE KEY")) {
		return -1, 0, "", false
	}
	limit := min(len(t), i+pemCap)
	if e := bytes.Index(t[he+5:limit], []byte("-----END ")); e >= 0 {
		e += he + 5 + len("-----END ")
		if c := bytes.Index(t[e:min(limit, e+70)], []byte("-----")); c >= 0 {
			return i, e + c + 5, KindPrivateKey, false
		}
		if e+70 > len(t) && limit == len(t) && !eof {
			return -1, 0, "", true
		}
	}
	if limit == len(t) && !eof && len(t) < i+pemCap {
		return -1, 0, "", true
	}
	return i, limit, KindPrivateKey, false
}

// urlPasswordAt masks PASS in scheme://user:PASS@host; t[i:] starts with
// "://".
func urlPasswordAt(t []byte, i, lo int, eof bool) (from, to int, kind string, need bool) {
	if i == lo || !scheme[t[i-1]] {
		return -1, 0, "", false
	}
	u, need := span(t, i+3, &urlUser, 256, eof)
	if need {
		return -1, 0, "", true
	}
	if u == len(t) || t[u] != ':' {
		return -1, 0, "", false
	}
	p, need := span(t, u+1, &urlPass, 256, eof)
	if need {
		return -1, 0, "", true
	}
	if p == len(t) || t[p] != '@' || p == u+1 || exempt(t[u+1:p]) {
		return -1, 0, "", false
	}
	return u + 1, p, KindURLPassword, false
}

// entropy returns the Shannon entropy of b in bits per byte.
func entropy(b []byte) float64 {
	var counts [256]uint16
	for _, c := range b {
		counts[c]++
	}
	n := float64(len(b))
	h := 0.0
	for _, k := range counts {
		if k > 0 {
			p := float64(k) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// highEntropy reports whether an assigned value looks random: at least 8
// bytes, at least two of upper case, lower case and digits, and an entropy
// of at least minEntropy bits per byte (less for values under 12 bytes,
// which cannot reach it: 0.85*log2(len)). "changeme", "created_at" and
// "2024-01-01" fail; "Xk9fQ2mZ", hex digests and base64 keys pass.
func highEntropy(v []byte) bool {
	if len(v) < 8 {
		return false
	}
	var u, l, d int
	for _, c := range v {
		switch {
		case 'A' <= c && c <= 'Z':
			u = 1
		case 'a' <= c && c <= 'z':
			l = 1
		case '0' <= c && c <= '9':
			d = 1
		}
	}
	if u+l+d < 2 {
		return false
	}
	return entropy(v) >= min(minEntropy, 0.85*math.Log2(float64(len(v))))
}
