// Package backup reads and writes Bulwark's backup files: a tar archive
// whose first entry is a manifest (MANIFEST.json) naming every other entry
// with its size and SHA-256, followed by those entries in the manifest's
// order. What goes into a backup (a consistent copy of the store, the
// audit chains, sealed keys) is the caller's; this package owns the
// format, its checks, and extracting an archive into a new folder without
// letting an entry land outside it.
//
// The second entry, MANIFEST.json.sha256, holds the manifest's SHA-256;
// the third, MANIFEST.json.seal, that hash sealed with a key of the
// caller's (Bulwark's master key), which this package does not open.
//
// The reader trusts nothing in the file: the manifest is bounded in size
// and count, every name is a plain relative path (no "..", no absolute
// path, no empty or dot component, a small character set), every tar entry
// is a regular file named and sized as the manifest says and in its order,
// and its content must hash to the manifest's SHA-256. Links, devices, sparse files,
// directories and anything after the last entry are refused.
package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Format is the manifest's "format" value, and Version the format version
// this package writes and reads.
const (
	Format       = "bulwark-backup"
	Version      = 1
	ManifestName = "MANIFEST.json"
	// SumName is the second entry: the manifest's SHA-256 in hex and a
	// newline (as sha256sum writes it), so that a changed byte of the
	// manifest is caught as one of an entry is.
	SumName = "MANIFEST.json.sha256"
	// SealName is the third entry: the manifest's SHA-256 sealed by the
	// writer's key (Write's seal), so that whoever holds the key can tell
	// a backup it made from one that was forged or altered with the
	// checksums made again.
	SealName = "MANIFEST.json.seal"
)

// Limits on what the reader accepts.
const (
	maxManifest = 1 << 20 // bytes
	maxEntries  = 100_000
	maxName     = 200
	maxSeal     = 4096
	maxDepth    = 4
	// MaxEntrySize bounds one entry (1 TiB): sizes beyond are refused
	// before anything is read.
	MaxEntrySize = 1 << 40
)

// Manifest describes a backup. Entries are in the order the archive holds
// them.
type Manifest struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	// Bulwark is the version of the bulwark that wrote the backup.
	Bulwark string `json:"bulwark"`
	// Store is the kind of store backed up ("sqlite") and Schema its
	// schema version.
	Store  string `json:"store"`
	Schema int    `json:"schema"`
	// AuditKey is the audit chains' Ed25519 public key (base64), which
	// checks their signed checkpoints; empty when the backup holds none.
	AuditKey string `json:"audit_public_key,omitempty"`
	// MasterKeyVersion is the version of the master key that sealed the
	// keys in the backup (the master key itself is never in it).
	MasterKeyVersion uint32  `json:"master_key_version,omitempty"`
	Entries          []Entry `json:"entries"`

	// Sum is the manifest's SHA-256 and Seal the content of its seal
	// entry, as Read found them (not part of the JSON).
	Sum  [32]byte `json:"-"`
	Seal []byte   `json:"-"`
}

// Entry is one file of a backup.
type Entry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // hex
}

// ErrFormat is the cause of every refusal of a malformed or hostile
// backup file; ErrChecksum of content that does not hash as the manifest
// says.
var (
	ErrFormat   = errors.New("not a valid bulwark backup")
	ErrChecksum = errors.New("checksum mismatch")
)

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// ValidName reports whether name may name an entry: a relative path of
// at most four components separated by "/", each of letters, digits,
// '.', '_' or '-', none empty, "." or "..", and not starting with '.'.
func ValidName(name string) bool {
	if name == "" || len(name) > maxName || name == ManifestName || name == SumName || name == SealName {
		return false
	}
	parts := strings.Split(name, "/")
	if len(parts) > maxDepth {
		return false
	}
	for _, p := range parts {
		if p == "" || p[0] == '.' {
			return false
		}
		for _, c := range []byte(p) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

// validate checks a manifest read from a file.
func (m *Manifest) validate() error {
	if m.Format != Format {
		return formatErr("the manifest's format is %q, not %q", trunc(m.Format), Format)
	}
	if m.Version != Version {
		return formatErr("format version %d; this bulwark reads version %d", m.Version, Version)
	}
	if len(m.Entries) > maxEntries {
		return formatErr("%d entries, more than %d", len(m.Entries), maxEntries)
	}
	seen := make(map[string]bool, len(m.Entries))
	for _, e := range m.Entries {
		if !ValidName(e.Name) {
			return formatErr("entry name %q is not a plain relative path", trunc(e.Name))
		}
		// A name that is also a folder of another ("a" and "a/b") could
		// not both be written.
		if seen[e.Name] {
			return formatErr("entry %q is listed twice", e.Name)
		}
		seen[e.Name] = true
		if e.Size < 0 || e.Size > MaxEntrySize {
			return formatErr("entry %q has size %d", e.Name, e.Size)
		}
		if len(e.SHA256) != 64 || strings.Trim(e.SHA256, "0123456789abcdef") != "" {
			return formatErr("entry %q has no valid SHA-256", e.Name)
		}
	}
	for name := range seen {
		for dir := name; ; {
			i := strings.LastIndexByte(dir, '/')
			if i < 0 {
				break
			}
			dir = dir[:i]
			if seen[dir] {
				return formatErr("entry %q is inside entry %q", name, dir)
			}
		}
	}
	return nil
}

// decodeManifest parses and validates a manifest.
func decodeManifest(b []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, formatErr("the manifest is not valid JSON: %v", err)
	}
	if dec.More() {
		return Manifest{}, formatErr("the manifest has data after its end")
	}
	return m, m.validate()
}

// trunc shortens a value read from a file for an error message.
func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
