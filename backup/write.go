package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write writes a backup to w: the manifest m (its Format and Version are
// set here, its Entries made from the files) and then each file named in
// names, read from the folder dir (names are slash paths within it, and
// must be valid: see ValidName). The files must not change meanwhile:
// each is read twice, once to hash it for the manifest and once to write
// it, and a file that no longer hashes the same fails the write.
// seal seals the manifest's SHA-256 (for the SealName entry; it must
// return at most 4 KiB). progress, if not nil, is told the bytes of file
// content written so far and the total.
func Write(w io.Writer, m Manifest, dir string, names []string, seal func(sum [32]byte) ([]byte, error), progress func(done, total int64)) (Manifest, error) {
	m.Format, m.Version, m.Entries = Format, Version, nil
	var total int64
	for _, name := range names {
		if !ValidName(name) {
			return m, fmt.Errorf("backup entry %q: not a plain relative path", name)
		}
		sum, n, err := hashFile(filepath.Join(dir, filepath.FromSlash(name)), nil)
		if err != nil {
			return m, err
		}
		m.Entries = append(m.Entries, Entry{Name: name, Size: n, SHA256: sum})
		total += n
	}
	if err := m.validate(); err != nil {
		return m, err
	}
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	body = append(body, '\n')
	tw := tar.NewWriter(w)
	hdr := func(name string, size int64) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o600, ModTime: m.Created}
	}
	if err := tw.WriteHeader(hdr(ManifestName, int64(len(body)))); err != nil {
		return m, err
	}
	if _, err := tw.Write(body); err != nil {
		return m, err
	}
	m.Sum = sha256.Sum256(body)
	line := hex.EncodeToString(m.Sum[:]) + "\n"
	if err := tw.WriteHeader(hdr(SumName, int64(len(line)))); err != nil {
		return m, err
	}
	if _, err := io.WriteString(tw, line); err != nil {
		return m, err
	}
	if m.Seal, err = seal(m.Sum); err != nil {
		return m, fmt.Errorf("seal the backup's manifest: %w", err)
	}
	if len(m.Seal) == 0 || len(m.Seal) > maxSeal {
		return m, fmt.Errorf("seal the backup's manifest: a seal of %d bytes", len(m.Seal))
	}
	if err := tw.WriteHeader(hdr(SealName, int64(len(m.Seal)))); err != nil {
		return m, err
	}
	if _, err := tw.Write(m.Seal); err != nil {
		return m, err
	}
	var done int64
	for _, e := range m.Entries {
		if err := tw.WriteHeader(hdr(e.Name, e.Size)); err != nil {
			return m, err
		}
		counted := func(n int64) {
			done += n
			if progress != nil {
				progress(done, total)
			}
		}
		sum, n, err := hashFile(filepath.Join(dir, filepath.FromSlash(e.Name)), &countingWriter{tw, counted})
		if err != nil {
			return m, err
		}
		if n != e.Size || sum != e.SHA256 {
			return m, fmt.Errorf("backup entry %q changed while it was written", e.Name)
		}
	}
	return m, tw.Close()
}

// hashFile returns the hex SHA-256 and size of the file at path, copying
// its content to w too when w is not nil.
func hashFile(path string, w io.Writer) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	var dst io.Writer = h
	if w != nil {
		dst = io.MultiWriter(h, w)
	}
	n, err := io.Copy(dst, f)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// countingWriter tells count how many bytes each write wrote.
type countingWriter struct {
	w     io.Writer
	count func(int64)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.count(int64(n))
	return n, err
}
