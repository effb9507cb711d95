package server

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// errNoOrigin is the refusal of a state-changing browser-side request
// that names no origin at all: it is not cross-origin, it comes from a
// script (curl), so the answer says what such a client does instead.
var errNoOrigin = errors.New("neither Origin nor Sec-Fetch-Site")

// checkOrigin is the cross-origin check of a browser (cookie) request.
// http.CrossOriginProtection refuses a state-changing request that a
// browser marks as cross-site (Sec-Fetch-Site), or whose Origin names
// another host. Two more refusals close what it lets through:
//
//   - a state-changing request with neither Origin nor Sec-Fetch-Site:
//     every browser this UI supports sends one of them, so such a request
//     comes from an old or odd client, or a proxy that strips them, and a
//     cookie is not enough to act on;
//   - an Origin whose scheme is not the request's (http://host posting to
//     https://host): a page served over plain HTTP, which anyone on the
//     path can write, is not this site.
//
// Safe methods (GET, HEAD, OPTIONS) pass.
func (s *Server) checkOrigin(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if err := s.csrf.Check(r); err != nil {
		return err
	}
	origin, fetchSite := r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site")
	if origin == "" && fetchSite == "" {
		return errNoOrigin
	}
	if origin == "" || s.trustedOrigin(origin) {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || !strings.EqualFold(u.Scheme, requestScheme(r)) {
		return errors.New("an Origin header with another scheme")
	}
	return nil
}

// trustedOrigin reports whether origin is one of Config.TrustedOrigins.
func (s *Server) trustedOrigin(origin string) bool {
	for _, o := range s.cfg.TrustedOrigins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}
