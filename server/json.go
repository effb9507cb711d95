package server

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/bulwark-agents/bulwark"
)

// decodeJSON reads the request's body, which must be one JSON object of
// type application/json with no fields v lacks, into v. Form bodies are
// refused: no route of this server takes one, and refusing them keeps a
// cross-site form from reaching a handler. Errors are Invalid (400), or
// QuotaExceeded (413) for a body over the route's MaxBody.
func decodeJSON(r *http.Request, v any) error {
	const op = "server.decodeJSON"
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return bulwark.Errorf(bulwark.Invalid, op, "send the body as JSON, with Content-Type: application/json")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(op, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return jsonError(op, err)
		}
		return bulwark.Errorf(bulwark.Invalid, op, "the body must hold one JSON object and nothing after it")
	}
	return nil
}

// jsonError turns a decoding error into a message for the client: where
// the JSON is wrong, never what it held.
func jsonError(op string, err error) error {
	var (
		mb     *http.MaxBytesError
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mb):
		return bulwark.E(bulwark.QuotaExceeded, op, "the body is too large", err)
	case errors.Is(err, io.EOF):
		return bulwark.Errorf(bulwark.Invalid, op, "the body is empty: send a JSON object")
	case errors.As(err, &syntax):
		return bulwark.Errorf(bulwark.Invalid, op, "the body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return bulwark.Errorf(bulwark.Invalid, op, "the field %q has the wrong type: want %s", typ.Field, typ.Type)
		}
		return bulwark.Errorf(bulwark.Invalid, op, "the body must be a JSON object")
	}
	if msg := err.Error(); len(msg) > len("json: unknown field ") && msg[:len("json: unknown field ")] == "json: unknown field " {
		return bulwark.Errorf(bulwark.Invalid, op, "unknown field %s", msg[len("json: unknown field "):])
	}
	return bulwark.Errorf(bulwark.Invalid, op, "the body is not valid JSON")
}
