// Package secret protects secret values: it keeps them encrypted at rest and
// out of everything Bulwark shows, logs or stores in the clear. Its Redactor
// (the redact*.go files) masks registered secret values, and their common
// encodings, and secret-looking strings that were never registered, in whole
// strings, in byte streams and in slog records.
package secret

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// MinSecretLen is the shortest value Add registers, in bytes. Shorter values
// are ignored: a 4- or 5-byte value ("1234", "admin") also occurs in ordinary
// output, so masking it would garble text without protecting anything, and
// its encodings are too short to be told apart from noise. A store that
// accepts secrets should refuse values this short rather than rely on masking.
const MinSecretLen = 6

// Redactor masks secrets in text. Registered values are replaced by
// "[REDACTED:NAME]"; with pattern detection on (the default), secret-looking
// strings that were never registered are replaced by "[REDACTED:kind]", kind
// being one of the Kind constants.
//
// A Redactor is safe for concurrent use: Add and Remove may run while other
// goroutines redact; a redaction already running uses the values registered
// when it started.
//
// Registered values are matched anywhere, also inside words, in these forms:
// the raw value; hex (lower and upper case); URL query and path escaping
// (with upper- and lower-case percent escapes); JSON and Go string escaping;
// and base64, standard and URL-safe, padded or not, at each of the three
// alignments the value can have inside a longer encoded text. For a value
// encoded at an offset, at most 2 bits of its first byte, carried by a base64
// character shared with the byte before it, are left unmasked. Its base64
// and hex forms are also found broken into lines as encoders wrap them
// (LF, CRLF or their JSON escapes, each after at least 16 base64
// characters: MIME, PEM, the base64 command, GitHub's contents API); the
// mask then takes the line breaks inside the value with it.
type Redactor struct {
	mu         sync.Mutex        // serializes Add and Remove
	values     map[string]string // label -> value
	set        atomic.Pointer[needleSet]
	noPatterns atomic.Bool
}

// NewRedactor returns a Redactor with no registered values and pattern
// detection on.
func NewRedactor() *Redactor {
	r := &Redactor{values: make(map[string]string)}
	r.set.Store(emptyNeedles)
	return r
}

// RedactorOf returns a Redactor of values (name to value), with pattern
// detection on: a tenant's secrets as the store gives them.
func RedactorOf(values map[string]string) *Redactor {
	r := NewRedactor()
	for name, v := range values {
		r.Add(name, v)
	}
	return r
}

// Add registers value under name, replacing the value name had. The mask
// shows name with characters other than letters, digits, '_', '.' and '-'
// replaced by '_'. Values shorter than MinSecretLen bytes are ignored.
func (r *Redactor) Add(name, value string) {
	if len(value) < MinSecretLen {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values[maskLabel(name)] = value
	r.set.Store(buildNeedles(r.values))
}

// Remove unregisters the value added under name, if any.
func (r *Redactor) Remove(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	label := maskLabel(name)
	if _, ok := r.values[label]; !ok {
		return
	}
	delete(r.values, label)
	r.set.Store(buildNeedles(r.values))
}

// SetDetection turns detection of unregistered secret-looking strings on or
// off. It is on in a new Redactor.
func (r *Redactor) SetDetection(on bool) { r.noPatterns.Store(!on) }

// Detection reports whether pattern detection is on.
func (r *Redactor) Detection() bool { return !r.noPatterns.Load() }

// String returns s with every secret masked. It returns s itself when there
// is nothing to mask.
func (r *Redactor) String(s string) string {
	if s == "" {
		return s
	}
	t := unsafe.Slice(unsafe.StringData(s), len(s)) // read only
	out, changed := r.redact(t)
	if !changed {
		return s
	}
	return string(out)
}

// Bytes returns b with every secret masked. When there is nothing to mask it
// returns b itself; otherwise a new slice, and b is left unchanged.
func (r *Redactor) Bytes(b []byte) []byte {
	out, changed := r.redact(b)
	if !changed {
		return b
	}
	return out
}

// redact runs both stages over the whole of t. It never writes to t.
func (r *Redactor) redact(t []byte) ([]byte, bool) {
	changed := false
	if ns := r.set.Load(); !ns.empty() {
		out, _, c := ns.scan(nil, t, 0, 0, true)
		if c {
			t, changed = out, true
		}
	}
	if r.Detection() {
		out, _, c := scanPatterns(nil, t, 0, true)
		if c {
			t, changed = out, true
		}
	}
	return t, changed
}

// maskLabel turns a secret's name into the text shown in its mask.
func maskLabel(name string) string {
	if name == "" {
		return "secret"
	}
	return strings.Map(func(c rune) rune {
		if c < 0x80 && labelChar[c] {
			return c
		}
		return '_'
	}, name)
}

// appendMask appends the mask for label to dst.
func appendMask(dst []byte, label string) []byte {
	dst = append(dst, "[REDACTED:"...)
	dst = append(dst, label...)
	return append(dst, ']')
}

// maskPrefix starts every mask; the pattern stage leaves values that start
// with it alone so that a masked value is not masked twice.
const maskPrefix = "[REDACTED:"

// sortedKeys returns m's keys in order, so that builds are deterministic.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
