package server

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// errorBody is the JSON of every error response:
// {"error": {"code": "not_found", "message": "...", "request_id": "..."}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// retryAfter is the cause of a RateLimited error: how long the client
// should wait. It becomes the Retry-After header.
type retryAfter time.Duration

func (d retryAfter) Error() string { return "retry after " + time.Duration(d).String() }

// errorCode is a cause that names the error's code for API clients more
// precisely than its kind does ("second_factor_required" rather than
// "unauthenticated"); the status is still the kind's.
type errorCode string

func (c errorCode) Error() string { return string(c) }

// withCode returns an error of kind whose code for API clients is code.
func withCode(kind bulwark.Kind, op, code, msg string) error {
	return bulwark.E(kind, op, msg, errorCode(code))
}

// rateLimited returns a RateLimited error that tells the client to retry
// after d.
func rateLimited(op, msg string, d time.Duration) error {
	return bulwark.E(bulwark.RateLimited, op, msg, retryAfter(d))
}

// statusFor maps an error's kind to its HTTP status: the one place where
// this is decided.
func statusFor(err error) int {
	switch bulwark.ErrorKind(err) {
	case bulwark.Invalid:
		return http.StatusBadRequest
	case bulwark.Unauthenticated:
		return http.StatusUnauthorized
	case bulwark.PermissionDenied:
		return http.StatusForbidden
	case bulwark.NotFound:
		return http.StatusNotFound
	case bulwark.Conflict:
		return http.StatusConflict
	case bulwark.RateLimited:
		return http.StatusTooManyRequests
	case bulwark.QuotaExceeded:
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return http.StatusRequestEntityTooLarge
		}
		return http.StatusTooManyRequests
	case bulwark.Unavailable, bulwark.Canceled:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError writes err as a JSON error with the status of its kind (or
// status, when not 0). The message is the error's safe message (see
// bulwark.ErrorMessage) masked with the secrets of the request's tenant,
// and no other tenant's (see TenantRedactors); for internal errors it is
// a generic text. The cause goes to the log only, for 5xx answers. An
// answer that had to mask a secret is charged to the client as bad input
// (abuse.go), and becomes a 429 once the client is over its budget.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error, status int) {
	p, _ := PrincipalFrom(r.Context())
	msg, masked, ok := s.maskMessage(r, p, bulwark.ErrorMessage(err))
	if masked {
		if lerr := s.chargeMasked(r, p, "error"); lerr != nil {
			err, status = lerr, 0
			msg = bulwark.ErrorMessage(lerr)
		}
	}
	if status == 0 {
		status = statusFor(err)
	}
	kind := bulwark.ErrorKind(err)
	code := kind.String()
	if !ok {
		msg = http.StatusText(status)
	}
	if status >= 500 {
		s.logger(r).Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		if kind == bulwark.Other || kind == bulwark.Internal {
			code, msg = bulwark.Internal.String(), "internal error"
		}
	}
	if status == http.StatusMethodNotAllowed {
		code = "method_not_allowed"
	}
	var ec errorCode
	if status < 500 && errors.As(err, &ec) {
		code = string(ec)
	}
	var ra retryAfter
	if errors.As(err, &ra) {
		secs := int64(math.Ceil(time.Duration(ra).Seconds()))
		w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	}
	writeJSON(w, status, errorBody{errorDetail{Code: code, Message: msg, RequestID: RequestID(r.Context())}})
}

// writeJSON writes v as the JSON response with status. JSON responses
// carry the strictest Content-Security-Policy: they are never documents.
func writeJSON(w http.ResponseWriter, status int, v any) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v)
}

// writeJSONBytes writes body, JSON that encodeJSON made, as writeJSON
// would have written its value.
func writeJSONBytes(w http.ResponseWriter, status int, body []byte) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	w.Write(body)
}

// jsonHeaderValues are the headers of a JSON answer, shared as
// securityHeaderValues are.
var jsonHeaderValues = []headerValues{
	{"Content-Type", []string{"application/json; charset=utf-8"}},
	{"Content-Security-Policy", []string{cspJSON}},
	{"Cache-Control", []string{"no-store"}},
}

func setJSONHeaders(h http.Header) {
	for _, hv := range jsonHeaderValues {
		h[hv.name] = hv.values
	}
}
