// Package audit keeps Bulwark's tamper-evident audit log: every
// security-relevant action becomes a Record in a SHA-256 hash chain, and
// checkpoints of the chain's size and head are signed with an Ed25519 key
// kept apart from the log, so that Verify finds any changed, deleted,
// inserted or reordered record, and any truncation behind a checkpoint.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Outcomes of a recorded action.
const (
	OutcomeOK     = "ok"
	OutcomeDenied = "denied"
	OutcomeError  = "error"
)

// Record is one audited action. Log.Append fills Seq, Time, PrevHash and
// Hash; the caller fills the rest. Details values must already be free of
// secrets (Log masks them again if it has a Redactor).
type Record struct {
	Seq      uint64            // position in the log, from 1
	Time     time.Time         // when the log took it (UTC)
	TenantID string            // "" for actions outside any tenant
	Actor    string            // who: a user or key id, "system", "cli"
	Action   string            // what: "auth.login_failed", "tool.call", "secret.set", ...
	Target   string            // on what: a task id, a tool name, a secret's name
	Outcome  string            // OutcomeOK, OutcomeDenied or OutcomeError
	Details  map[string]string // more, already redacted
	PrevHash Hash              // Hash of the record before (zero for the first)
	Hash     Hash              // SHA-256 of PrevHash and the record's canonical bytes
	MAC      Hash              // HMAC of Hash under a key only the signing key gives (zero: none; see mac.go)
}

// Hash is a SHA-256 digest. It is written as 64 lower-case hex digits.
type Hash [sha256.Size]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText writes h as hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads exactly 64 lower-case hex digits.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 2*len(h) {
		return fmt.Errorf("hash: want %d hex digits, got %d", 2*len(h), len(b))
	}
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("hash: bad digit %q", c)
		}
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// The canonical bytes of a record, which its hash covers, are a version
// tag and then each field in a fixed order, integers as 8 bytes big-endian
// and strings as their length (8 bytes big-endian) followed by their bytes:
//
//	"bulwark.audit.record.v1\x00" seq time tenant actor action target outcome
//	len(details) (key value)... in byte order of the keys
//
// where time is written as RFC 3339 with nanoseconds in UTC. Hash is
// SHA-256(PrevHash || canonical bytes). Length prefixes make the encoding
// unambiguous whatever the strings hold.
const recordTag = "bulwark.audit.record.v1\x00"

func appendUint(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func appendString(b []byte, s string) []byte {
	return append(appendUint(b, uint64(len(s))), s...)
}

// canonical returns the bytes r's hash covers.
func canonical(r *Record) []byte {
	b := make([]byte, 0, 256)
	b = append(b, recordTag...)
	b = appendUint(b, r.Seq)
	b = appendString(b, formatTime(r.Time))
	for _, s := range []string{r.TenantID, r.Actor, r.Action, r.Target, r.Outcome} {
		b = appendString(b, s)
	}
	keys := make([]string, 0, len(r.Details))
	for k := range r.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = appendUint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(appendString(b, k), r.Details[k])
	}
	return b
}

// ComputeHash returns the hash r should carry given its PrevHash.
func ComputeHash(r *Record) Hash {
	h := sha256.New()
	h.Write(r.PrevHash[:])
	h.Write(canonical(r))
	var out Hash
	h.Sum(out[:0])
	return out
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// The stored form of a record is one line of JSON with the fields in this
// order, details with sorted keys (always present, {} when empty), strings
// escaped as encoding/json does (Log.Append first replaces invalid UTF-8
// with U+FFFD), and a
// newline. EncodeRecord writes exactly this form, and DecodeRecord accepts
// only it: a line that decodes to a record which encodes differently is
// refused, so any change to a stored byte is either caught here or changes
// the record's hash.
type wireRecord struct {
	Seq      uint64            `json:"seq"`
	Time     string            `json:"time"`
	TenantID string            `json:"tenant"`
	Actor    string            `json:"actor"`
	Action   string            `json:"action"`
	Target   string            `json:"target"`
	Outcome  string            `json:"outcome"`
	Details  map[string]string `json:"details"`
	PrevHash Hash              `json:"prev"`
	Hash     Hash              `json:"hash"`
	MAC      Hash              `json:"mac,omitzero"` // absent in the records of releases before MACs
}

// EncodeRecord returns the stored form of r: one JSON line ending in '\n'.
func EncodeRecord(r Record) ([]byte, error) {
	d := r.Details
	if d == nil {
		d = map[string]string{}
	}
	b, err := json.Marshal(wireRecord{r.Seq, formatTime(r.Time), r.TenantID, r.Actor, r.Action,
		r.Target, r.Outcome, d, r.PrevHash, r.Hash, r.MAC})
	if err != nil {
		return nil, fmt.Errorf("encode audit record %d: %w", r.Seq, err)
	}
	return append(b, '\n'), nil
}

// ErrNotCanonical is wrapped by DecodeRecord's error for a line that
// decodes but is not in the form EncodeRecord writes.
var ErrNotCanonical = errors.New("not in canonical form")

// DecodeRecord reads a line written by EncodeRecord (with or without its
// newline). It refuses unknown fields, trailing data and any line that is
// not exactly the canonical encoding of the record it holds.
func DecodeRecord(line []byte) (Record, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var w wireRecord
	if err := dec.Decode(&w); err != nil {
		return Record{}, fmt.Errorf("decode audit record: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, w.Time)
	if err != nil {
		return Record{}, fmt.Errorf("decode audit record: time: %w", err)
	}
	r := Record{w.Seq, t.UTC(), w.TenantID, w.Actor, w.Action, w.Target, w.Outcome, w.Details, w.PrevHash, w.Hash, w.MAC}
	if r.Details == nil {
		r.Details = map[string]string{}
	}
	again, err := EncodeRecord(r)
	if err != nil {
		return Record{}, err
	}
	if !bytes.Equal(again[:len(again)-1], line) {
		return Record{}, fmt.Errorf("decode audit record %d: %w", r.Seq, ErrNotCanonical)
	}
	return r, nil
}

// seal normalizes r to what its stored form decodes to (UTC time, valid
// UTF-8, non-nil Details) and sets its Hash, so that the hash a verifier
// computes from the stored line is the one written.
func seal(r Record) (Record, []byte, error) {
	r.Hash, r.MAC = Hash{}, Hash{}
	// encoding/json writes each invalid UTF-8 byte as the escape \ufffd
	// but writes a decoded U+FFFD as itself: make strings valid first.
	for _, p := range []*string{&r.TenantID, &r.Actor, &r.Action, &r.Target, &r.Outcome} {
		*p = strings.ToValidUTF8(*p, "\uFFFD")
	}
	if len(r.Details) > 0 {
		d := make(map[string]string, len(r.Details))
		for k, v := range r.Details {
			d[strings.ToValidUTF8(k, "\uFFFD")] = strings.ToValidUTF8(v, "\uFFFD")
		}
		r.Details = d
	}
	line, err := EncodeRecord(r)
	if err != nil {
		return Record{}, nil, err
	}
	n, err := DecodeRecord(line)
	if err != nil {
		return Record{}, nil, err
	}
	n.Hash = ComputeHash(&n)
	line, err = EncodeRecord(n)
	return n, line, err
}
