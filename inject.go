package bulwark

import (
	"encoding/json"
	"strings"
)

// SecretInject says where in a request to one of its hosts the egress
// proxy may put a secret's value. Header values always; the URL (path and
// query) and the body only when the secret's owner opts in: a bound host
// that stores what it is sent (a git host's API) can hand a value put into
// a body or a URL back transformed (gzip, a packfile, base64 in JSON),
// where no masker recognises it. The zero value is headers only, which is
// also what a secret stored before the choice existed reads as.
//
// In JSON it is a list of places: ["headers"], ["headers","url","body"].
type SecretInject struct {
	URL  bool // the request target: path and query
	Body bool // the request body, however framed
}

// Places where a secret's value may go, as ParseSecretInject reads them.
const (
	InjectHeaders = "headers"
	InjectURL     = "url"
	InjectBody    = "body"
)

// ParseSecretInject reads places separated by commas ("headers,url",
// "body"), in any order and case, with or without "headers", which is
// always allowed; "" is headers only. An unknown place is Invalid.
func ParseSecretInject(s string) (SecretInject, error) {
	if strings.TrimSpace(s) == "" {
		return SecretInject{}, nil
	}
	return parseInjectPlaces(strings.Split(s, ","))
}

func parseInjectPlaces(places []string) (SecretInject, error) {
	var in SecretInject
	for _, p := range places {
		switch strings.ToLower(strings.TrimSpace(p)) {
		case InjectHeaders:
		case InjectURL:
			in.URL = true
		case InjectBody:
			in.Body = true
		default:
			return SecretInject{}, Errorf(Invalid, "secret.inject", "inject: a place a secret can be put is headers, url or body (not %.20q)", p)
		}
	}
	return in, nil
}

// Places are the places in, headers first: ["headers", "url", "body"].
func (in SecretInject) Places() []string {
	out := []string{InjectHeaders}
	if in.URL {
		out = append(out, InjectURL)
	}
	if in.Body {
		out = append(out, InjectBody)
	}
	return out
}

// String is the places separated by commas, as ParseSecretInject reads them.
func (in SecretInject) String() string { return strings.Join(in.Places(), ",") }

// IsHeadersOnly reports whether in is the default: header values only.
func (in SecretInject) IsHeadersOnly() bool { return !in.URL && !in.Body }

// MarshalJSON writes the places as a list.
func (in SecretInject) MarshalJSON() ([]byte, error) { return json.Marshal(in.Places()) }

// UnmarshalJSON reads a list of places, or null for headers only.
func (in *SecretInject) UnmarshalJSON(b []byte) error {
	var places []string
	if err := json.Unmarshal(b, &places); err != nil {
		return E(Invalid, "secret.inject", "inject must be a list of places: headers, url, body", err)
	}
	v, err := parseInjectPlaces(places)
	if err != nil {
		return err
	}
	*in = v
	return nil
}
