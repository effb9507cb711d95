package bulwark

import (
	"context"
	"errors"
	"fmt"
)

// Kind classifies an Error. The set is small and stable: the HTTP layer maps
// each kind to a status code in one place and the CLI to an exit status.
type Kind uint8

const (
	Other            Kind = iota // unclassified; shown to users as an internal error
	Invalid                      // bad input from the caller
	Unauthenticated              // no or bad credentials
	PermissionDenied             // authenticated, but not allowed
	NotFound                     // no such thing (or not visible to this tenant)
	Conflict                     // state does not allow it
	RateLimited                  // too many requests
	QuotaExceeded                // a budget or quota ran out
	Unavailable                  // a dependency (model provider, database) is down
	Internal                     // a bug or an invariant broken
	Canceled                     // the caller canceled
)

var kindNames = [...]string{
	Other:            "other",
	Invalid:          "invalid",
	Unauthenticated:  "unauthenticated",
	PermissionDenied: "permission_denied",
	NotFound:         "not_found",
	Conflict:         "conflict",
	RateLimited:      "rate_limited",
	QuotaExceeded:    "quota_exceeded",
	Unavailable:      "unavailable",
	Internal:         "internal",
	Canceled:         "canceled",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Error is Bulwark's error. Msg is meant for the user or API client and must
// hold no internals or secrets; Err is the cause, for the log only.
type Error struct {
	Kind Kind
	Op   string // the operation, e.g. "openai.Stream"; for the log
	Msg  string // safe to show
	Err  error  // the cause; for the log
}

// E builds an Error. Op names the operation; msg is the message a user sees.
func E(kind Kind, op, msg string, err error) *Error {
	return &Error{Kind: kind, Op: op, Msg: msg, Err: err}
}

// Errorf builds an Error with a formatted user message and no cause.
func Errorf(kind Kind, op, format string, args ...any) *Error {
	return &Error{Kind: kind, Op: op, Msg: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	s := e.Msg
	if s == "" {
		s = e.Kind.String()
	}
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorKind returns the kind of the first *Error in err's chain, Canceled
// for context cancellation, and Other when there is none.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Canceled
	}
	return Other
}

// ErrorMessage returns the message of err that is safe to show a user: the
// Msg of the first *Error in its chain that has one, or a generic text.
func ErrorMessage(err error) string {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			break
		}
		if e.Msg != "" {
			return e.Msg
		}
		err = e.Err
	}
	return "internal error"
}
