package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strings"
)

// Read reads the backup r: its manifest (with its Sum and Seal, which
// the caller checks with its key), then each entry, handed to visit
// (if not nil) with a reader of its content. Content is checked as it is
// read: the reader returns an error wrapping ErrChecksum instead of io.EOF
// when it does not hash as the manifest says, and what visit leaves
// unread is read and checked after it returns. Read returns the manifest
// once every entry has been read and checked and the archive ends after
// the last one; any deviation from the format is an error wrapping
// ErrFormat. An error from visit stops the reading and is returned.
//
// Memory use is bounded whatever the file holds: the manifest is read
// whole (at most 1 MiB), content is streamed.
func Read(r io.Reader, visit func(e Entry, content io.Reader) error) (Manifest, error) {
	return read(r, nil, visit)
}

// read is Read with check (if not nil) called with the manifest, its Sum
// and Seal once they are read and before any entry is: an error from it
// stops the reading and is returned.
func read(r io.Reader, check func(Manifest) error, visit func(e Entry, content io.Reader) error) (Manifest, error) {
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil {
		return Manifest{}, archiveErr(err, "the manifest")
	}
	if hdr.Name != ManifestName || hdr.Typeflag != tar.TypeReg {
		return Manifest{}, formatErr("the first entry is %q, not the manifest %s", trunc(hdr.Name), ManifestName)
	}
	if hdr.Size <= 0 || hdr.Size > maxManifest {
		return Manifest{}, formatErr("the manifest has size %d (at most %d)", hdr.Size, maxManifest)
	}
	body := make([]byte, hdr.Size)
	if _, err := io.ReadFull(tr, body); err != nil {
		return Manifest{}, archiveErr(err, "the manifest")
	}
	if err := checkSum(tr, body); err != nil {
		return Manifest{}, err
	}
	m, err := decodeManifest(body)
	if err != nil {
		return Manifest{}, err
	}
	m.Sum = sha256.Sum256(body)
	if m.Seal, err = readSeal(tr); err != nil {
		return Manifest{}, err
	}
	if check != nil {
		if err := check(m); err != nil {
			return m, err
		}
	}
	for _, e := range m.Entries {
		hdr, err := tr.Next()
		if err != nil {
			return m, archiveErr(err, "entry "+e.Name)
		}
		if hdr.Name != e.Name {
			return m, formatErr("found entry %q where the manifest has %q", trunc(hdr.Name), e.Name)
		}
		if hdr.Typeflag != tar.TypeReg {
			return m, formatErr("entry %q is not a regular file (type %q)", e.Name, hdr.Typeflag)
		}
		if hdr.Size != e.Size {
			return m, formatErr("entry %q has %d bytes, the manifest says %d", e.Name, hdr.Size, e.Size)
		}
		if sparse(hdr) {
			// The tar reader would expand its holes to zeros: a few
			// blocks of the file could stand for any size (a tar bomb).
			return m, formatErr("entry %q is a sparse file", e.Name)
		}
		c := &content{r: tr, h: sha256.New(), e: e}
		if visit != nil {
			if err := visit(e, c); err != nil {
				return m, err
			}
		}
		if _, err := io.Copy(io.Discard, c); err != nil {
			return m, err
		}
	}
	switch _, err := tr.Next(); {
	case err == io.EOF:
		return m, nil
	case err != nil:
		return m, archiveErr(err, "the end of the archive")
	default:
		return m, formatErr("the archive holds entries the manifest does not list")
	}
}

// sparse reports whether hdr is a sparse file in any of tar's forms (the
// old GNU type is refused as not regular; PAX sparse files keep the
// regular type and say so in their records).
func sparse(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// checkSum reads the manifest's checksum entry and compares it with the
// manifest read before it.
func checkSum(tr *tar.Reader, manifest []byte) error {
	hdr, err := tr.Next()
	if err != nil {
		return archiveErr(err, "the manifest's checksum")
	}
	const size = 2*sha256.Size + 1
	if hdr.Name != SumName || hdr.Typeflag != tar.TypeReg || hdr.Size != size {
		return formatErr("the second entry is %q, not the manifest's checksum %s", trunc(hdr.Name), SumName)
	}
	var got [size]byte
	if _, err := io.ReadFull(tr, got[:]); err != nil {
		return archiveErr(err, "the manifest's checksum")
	}
	sum := sha256.Sum256(manifest)
	if want := hex.EncodeToString(sum[:]) + "\n"; string(got[:]) != want {
		return fmt.Errorf("the manifest: %w (%s says %s, the manifest hashes to %s)", ErrChecksum, SumName, trunc(string(got[:size-1])), want[:size-1])
	}
	return nil
}

// readSeal reads the manifest's seal entry.
func readSeal(tr *tar.Reader) ([]byte, error) {
	hdr, err := tr.Next()
	if err != nil {
		return nil, archiveErr(err, "the manifest's seal")
	}
	if hdr.Name != SealName || hdr.Typeflag != tar.TypeReg || hdr.Size <= 0 || hdr.Size > maxSeal {
		return nil, formatErr("the third entry is %q of %d bytes, not the manifest's seal %s", trunc(hdr.Name), hdr.Size, SealName)
	}
	seal := make([]byte, hdr.Size)
	if _, err := io.ReadFull(tr, seal); err != nil {
		return nil, archiveErr(err, "the manifest's seal")
	}
	return seal, nil
}

// archiveErr turns an error of the tar reader into ErrFormat.
func archiveErr(err error, where string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return formatErr("the file ends before %s (truncated?)", where)
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return err // reading the file itself failed
	}
	return formatErr("reading %s: %v", where, err)
}

// content reads one entry and checks its hash at its end.
type content struct {
	r    io.Reader
	h    hash.Hash
	e    Entry
	n    int64
	done bool
}

func (c *content) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if err == io.EOF {
		if c.n != c.e.Size {
			return n, archiveErr(io.ErrUnexpectedEOF, "the end of entry "+c.e.Name)
		}
		c.done = true
		if got := hex.EncodeToString(c.h.Sum(nil)); got != c.e.SHA256 {
			return n, fmt.Errorf("entry %s: %w (the manifest says %s, the content hashes to %s)", c.e.Name, ErrChecksum, c.e.SHA256, got)
		}
		return n, io.EOF
	}
	if err != nil {
		return n, archiveErr(err, "entry "+c.e.Name)
	}
	return n, nil
}

// Extract reads the backup r into the folder dir, which must exist and be
// empty, checking it as Read does: each entry becomes a file of mode 0600
// (its folders 0700) at its name inside dir, written through an os.Root
// of dir, so that no name, link or race reaches outside it. accept (if not
// nil) says which names the caller knows; another name fails the
// extraction. check (if not nil) is called with the manifest (its Sum and
// Seal too) before any entry is read or written, so that a backup its
// caller does not trust (a seal it cannot open) leaves nothing on disk.
// On error, dir holds what was written so far: the caller
// removes it.
func Extract(r io.Reader, dir string, accept func(name string) bool, check func(Manifest) error) (Manifest, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Manifest{}, err
	}
	defer root.Close()
	if ents, err := os.ReadDir(dir); err != nil || len(ents) > 0 {
		if err == nil {
			err = fmt.Errorf("extract a backup into %s: the folder is not empty", dir)
		}
		return Manifest{}, err
	}
	return read(r, check, func(e Entry, c io.Reader) error {
		if accept != nil && !accept(e.Name) {
			return formatErr("entry %q is not part of a bulwark data folder", e.Name)
		}
		if d := path.Dir(e.Name); d != "." {
			if err := root.MkdirAll(d, 0o700); err != nil {
				return err
			}
		}
		f, err := root.OpenFile(e.Name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, c)
		if err == nil {
			err = f.Sync()
		}
		return errors.Join(err, f.Close())
	})
}
