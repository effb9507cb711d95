package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Checkpoint is a signed statement of the log's state: its first Size
// records end in the record whose hash is Head. A verifier holding the
// public key can then tell whether records were removed or rewritten up to
// Size, even by someone who recomputed the whole chain.
type Checkpoint struct {
	Chain     string    // the chain it covers: "" for the system chain, else a tenant id
	Size      uint64    // records covered: the Seq of the last one
	Head      Hash      // Hash of record Size (zero when Size is 0)
	Time      time.Time // when it was signed (UTC)
	Signature []byte    // Ed25519 over SignedBytes
}

const (
	checkpointTag   = "bulwark.audit.checkpoint.v1\x00"
	checkpointTagV2 = "bulwark.audit.checkpoint.v2\x00"
)

// SignedBytes returns what the signature covers: a version tag, for a
// tenant's chain its name (length-prefixed), Size (8 bytes big-endian),
// Head, and Time as length-prefixed RFC 3339 text. The system chain's
// checkpoints carry no name (version 1, as the single log of earlier
// releases signed them), so that a checkpoint of one chain never passes
// for one of another.
func (c *Checkpoint) SignedBytes() []byte {
	var b []byte
	if c.Chain == "" {
		b = append([]byte(checkpointTag), make([]byte, 0, 80)...)
	} else {
		b = appendString([]byte(checkpointTagV2), c.Chain)
	}
	b = appendUint(b, c.Size)
	b = append(b, c.Head[:]...)
	return appendString(b, formatTime(c.Time))
}

// signCheckpoint returns a checkpoint of size and head, signed with key.
func signCheckpoint(key ed25519.PrivateKey, chain string, size uint64, head Hash, now time.Time) Checkpoint {
	c := Checkpoint{Chain: chain, Size: size, Head: head, Time: now.UTC().Round(0)}
	// Normalize the time to what its stored form holds.
	c.Time, _ = time.Parse(time.RFC3339Nano, formatTime(c.Time))
	c.Signature = ed25519.Sign(key, c.SignedBytes())
	return c
}

// verify reports whether c is signed by pub.
func (c *Checkpoint) verify(pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, c.SignedBytes(), c.Signature)
}

type wireCheckpoint struct {
	Chain     string `json:"chain,omitempty"`
	Size      uint64 `json:"size"`
	Head      Hash   `json:"head"`
	Time      string `json:"time"`
	Signature []byte `json:"sig"`
}

// EncodeCheckpoint returns the stored form of c: one JSON line.
func EncodeCheckpoint(c Checkpoint) ([]byte, error) {
	b, err := json.Marshal(wireCheckpoint{c.Chain, c.Size, c.Head, formatTime(c.Time), c.Signature})
	if err != nil {
		return nil, fmt.Errorf("encode audit checkpoint: %w", err)
	}
	return append(b, '\n'), nil
}

// DecodeCheckpoint reads a line written by EncodeCheckpoint, refusing any
// other form of it.
func DecodeCheckpoint(line []byte) (Checkpoint, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var w wireCheckpoint
	if err := dec.Decode(&w); err != nil {
		return Checkpoint{}, fmt.Errorf("decode audit checkpoint: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, w.Time)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("decode audit checkpoint: time: %w", err)
	}
	c := Checkpoint{w.Chain, w.Size, w.Head, t.UTC(), w.Signature}
	again, err := EncodeCheckpoint(c)
	if err != nil {
		return Checkpoint{}, err
	}
	if !bytes.Equal(again[:len(again)-1], line) {
		return Checkpoint{}, fmt.Errorf("decode audit checkpoint: %w", ErrNotCanonical)
	}
	return c, nil
}

// macsHeader is the PEM header of a signing key file made by a release
// that gave every record a MAC: its logs' records must all have one
// (Options.StrictMACs). The file is kept where the log's writers cannot
// change it, so the header cannot be taken off to pass records without.
const macsHeader, macsEvery = "Bulwark-Audit-Record-MACs", "every record"

// LoadOrCreateSigningKey reads the Ed25519 key that signs checkpoints and
// keys records' MACs from path (a PEM "PRIVATE KEY" block, PKCS #8), or
// creates one there, mode 0600, if there is none. Keep it apart from the
// log's storage: whoever can write both can forge history. It refuses a
// key file that anyone but its owner may read or write (mode & 0077 !=
// 0), or that is not a regular file. strict reports that the key was made
// with every record having a MAC (see Options.StrictMACs): every key it
// makes is, a key made by an earlier release is not.
func LoadOrCreateSigningKey(path string) (key ed25519.PrivateKey, strict bool, err error) {
	key, strict, err = loadSigningKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, strict, err
	}
	_, key, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("audit signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, false, fmt.Errorf("audit signing key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{macsHeader: macsEvery}, Bytes: der})
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("audit signing key: %w", err)
	}
	// Write a temporary file and link it into place, so that the key file
	// is never seen half written and a concurrent creator's key is kept.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".audit-key-*")
	if err != nil {
		return nil, false, fmt.Errorf("audit signing key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if errors.Is(err, fs.ErrExist) {
		return loadSigningKey(path)
	}
	if err != nil {
		return nil, false, fmt.Errorf("audit signing key: %w", err)
	}
	return key, true, nil
}

func loadSigningKey(path string) (ed25519.PrivateKey, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, err
		}
		return nil, false, fmt.Errorf("audit signing key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("audit signing key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, false, fmt.Errorf("audit signing key %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, false, fmt.Errorf("audit signing key %s: mode %04o lets others read or change it; run chmod 600", path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, false, fmt.Errorf("audit signing key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, false, fmt.Errorf("audit signing key %s: no PEM PRIVATE KEY block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, false, fmt.Errorf("audit signing key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, false, fmt.Errorf("audit signing key %s: not an Ed25519 key", path)
	}
	return key, block.Headers[macsHeader] == macsEvery, nil
}
