package secret

import "bytes"

// Assignments: NAME=value, NAME: value, NAME = "value", "name": "value",
// 'name': 'value', name := "value", export NAME=value, Authorization: Bearer
// value. The name decides what is masked:
//
//   - names ending in PASSWORD, PASSWD, PWD (but not the shell's PWD and
//     OLDPWD) or PASSPHRASE: any value, whatever its entropy, since real
//     passwords are often guessable words ("PASSWORD=changeme" is masked);
//   - names ending in AUTHORIZATION: the credential after an optional
//     scheme word (Bearer, Basic, Token), when it has 8 bytes or more;
//   - names ending in KEY, TOKEN or SECRET: values that look random (see
//     highEntropy), so that "sort_key=created_at" or "monkey: banana" stay.
//
// Names are matched without regard to case. Values that are references or
// placeholders rather than secrets are left alone (see exempt). An unquoted
// value ends at white space, a quote, ',', ';' or '&'; a quoted one at its
// closing quote or the end of the line.

// assignAt handles the '=' or ':' at t[i].
func assignAt(t []byte, i, lo int, eof bool) (from, to int, kind string, need bool) {
	n := len(t)
	if i+1 == n {
		return -1, 0, "", !eof
	}
	next, opStart := t[i+1], i
	if t[i] == '=' {
		if next == '=' || next == '>' || next == '~' {
			return -1, 0, "", false
		}
		if i > lo {
			switch t[i-1] {
			case ':':
				opStart = i - 1
			case '=', '!', '<', '>', '+', '-', '*', '/', '%', '&', '|', '^', '~', '?':
				return -1, 0, "", false
			}
		}
	} else if next == ':' || next == '=' || i > lo && t[i-1] == ':' {
		return -1, 0, "", false
	}

	k := opStart - 1
	for s := 0; s < 4 && k >= lo && spaceTab[t[k]]; s++ {
		k--
	}
	var quote byte
	if k >= lo && (t[k] == '"' || t[k] == '\'') {
		quote = t[k]
		k--
	}
	nameEnd := k + 1
	for k >= lo && nameChar[t[k]] && nameEnd-k <= 64 {
		k--
	}
	if k+1 == nameEnd || quote != 0 && (k < lo || t[k] != quote) {
		return -1, 0, "", false
	}
	kind = nameKind(t[k+1 : nameEnd])
	if kind == "" {
		return -1, 0, "", false
	}

	j := i + 1
	for s := 0; s < 8 && j < n && spaceTab[t[j]]; s++ {
		j++
	}
	if j == n {
		return -1, 0, "", !eof
	}
	var vs, ve int
	if q := t[j]; q == '"' || q == '\'' || q == '`' {
		vs = j + 1
		if ve, need = quotedEnd(t, vs, q, eof); need {
			return -1, 0, "", true
		}
		if s := authScheme(t[vs:ve], true); s > 0 {
			vs += s
		}
	} else {
		vs = j
		if ve, need = span(t, j, &valueRun, valueCap, eof); need {
			return -1, 0, "", true
		}
		if authScheme(t[vs:ve], false) > 0 && ve < n && t[ve] == ' ' {
			c, need := span(t, ve, &spaceTab, 8, eof)
			if need {
				return -1, 0, "", true
			}
			e, need := span(t, c, &valueRun, valueCap, eof)
			if need {
				return -1, 0, "", true
			}
			if e > c {
				vs, ve = c, e
			}
		}
	}
	v := t[vs:ve]
	if exempt(v) || kind == KindAssignedSecret && !highEntropy(v) || kind == KindAuthorization && len(v) < 8 {
		return -1, 0, "", false
	}
	return vs, ve, kind, false
}

// quotedEnd returns the end of a value quoted by q that starts at vs: the
// closing quote, the end of the line or valueCap bytes, whichever is first.
// A backslash escapes the byte after it.
func quotedEnd(t []byte, vs int, q byte, eof bool) (int, bool) {
	n, k := len(t), vs
	for k < n && k-vs < valueCap {
		switch t[k] {
		case '\\':
			k += 2
			continue
		case q, '\n', '\r':
			return k, false
		}
		k++
	}
	if k >= n && k-vs < valueCap {
		return n, !eof
	}
	return min(k, n), false
}

// nameKind returns the kind of secret a name holds, or "".
func nameKind(name []byte) string {
	var buf [16]byte
	tail := name[max(0, len(name)-len(buf)):]
	l := buf[:len(tail)]
	for i, c := range tail {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		l[i] = c
	}
	switch {
	case hasSuffix(l, "pwd"):
		if len(name) == 3 || len(name) == 6 && string(l) == "oldpwd" {
			return ""
		}
		return KindPassword
	case hasSuffix(l, "password"), hasSuffix(l, "passwd"), hasSuffix(l, "passphrase"):
		return KindPassword
	case hasSuffix(l, "authorization"):
		return KindAuthorization
	case hasSuffix(l, "key"), hasSuffix(l, "token"), hasSuffix(l, "secret"):
		return KindAssignedSecret
	}
	return ""
}

func hasSuffix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[len(b)-len(s):]) == s
}

// authScheme returns the length of a leading HTTP authentication scheme in
// v ("Bearer", "Basic", "Token", any case), with the spaces after it when
// quoted is true (the value then goes on after them), or 0.
func authScheme(v []byte, quoted bool) int {
	for _, s := range []string{"bearer", "basic", "token"} {
		if len(v) < len(s) || !bytes.EqualFold(v[:len(s)], []byte(s)) {
			continue
		}
		if !quoted {
			if len(v) == len(s) {
				return len(s)
			}
			continue
		}
		k := len(s)
		for k < len(v) && v[k] == ' ' {
			k++
		}
		if k > len(s) && k < len(v) {
			return k
		}
	}
	return 0
}

// exempt reports whether an assigned value is a reference or placeholder
// rather than a secret: empty; already masked; a template or variable
// ({{secret:X}}, ${X}, $X, $(cmd), %(x)s, #{x}, <your-password>); a
// lookup in code (os.environ[...], process.env.X, os.Getenv(...),
// secrets.X, self.x); a type or literal (null, None, nil, true, false,
// str, string); or one character repeated (****, xxxx).
func exempt(v []byte) bool {
	if len(v) == 0 || bytes.HasPrefix(v, []byte(maskPrefix)) {
		return true
	}
	switch v[0] {
	case '<':
		return true
	case '{', '$', '%', '#':
		if len(v) > 1 && (v[1] == '{' || v[1] == '(') {
			return true
		}
		if v[0] == '$' && len(v) > 1 && (word[v[1]] && !('0' <= v[1] && v[1] <= '9')) {
			return true
		}
	}
	same := true
	for _, c := range v {
		same = same && c == v[0]
	}
	if same && len(v) > 1 && bytes.IndexByte([]byte("*xX.-#?"), v[0]) >= 0 {
		return true
	}
	var buf [16]byte
	l := buf[:min(len(v), len(buf))]
	for i := range l {
		c := v[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		l[i] = c
	}
	if len(v) <= len(buf) {
		switch string(l) {
		case "null", "none", "nil", "true", "false", "undefined", "str", "string",
			"bytes", "int", "secretstr", "required", "optional", "redacted":
			return true
		}
	}
	for _, p := range []string{"process.env", "os.environ", "os.getenv", "getenv(",
		"env.", "env[", "secrets.", "self.", "this.", "config."} {
		if len(l) >= len(p) && string(l[:len(p)]) == p {
			return true
		}
	}
	return false
}
