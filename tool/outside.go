package tool

import "errors"

// Outside marks err as a failure whose message holds text from outside
// (a name or URL a server chose, such as where it redirected a fetch):
// the loop gives its message to the model as untrusted text, marked and
// screened as an Untrusted Result is. Nil stays nil.
func Outside(err error) error {
	if err == nil {
		return nil
	}
	return &outsideError{err}
}

// FromOutside reports whether err was marked by Outside.
func FromOutside(err error) bool {
	var o *outsideError
	return errors.As(err, &o)
}

type outsideError struct{ err error }

func (e *outsideError) Error() string { return e.err.Error() }
func (e *outsideError) Unwrap() error { return e.err }
