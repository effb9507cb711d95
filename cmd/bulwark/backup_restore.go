package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/backup"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// maxSealedKey bounds a sealed key entry read into memory.
const maxSealedKey = 64 << 10

// verifyResult is what verifyBackup found.
type verifyResult struct {
	manifest    backup.Manifest
	chains      int
	records     uint64
	sealed      int  // sealed keys in the backup
	keysChecked int  // of those, opened with the master key
	authentic   bool // the master key sealed the manifest
}

// verifyBackup checks the backup file p on its own (see backupUsage).
func verifyBackup(ctx context.Context, p string, prog *progress) (verifyResult, error) {
	var res verifyResult
	stage, err := os.MkdirTemp("", "bulwark-verify-*")
	if err != nil {
		return res, bulwark.E(bulwark.Unavailable, "backup verify", "cannot make a temporary folder: "+errText(err), err)
	}
	defer os.RemoveAll(stage)
	root, err := os.OpenRoot(stage)
	if err != nil {
		return res, err
	}
	defer root.Close()
	sealed := map[string][]byte{}
	f, size, err := openBackupFile(p)
	if err != nil {
		return res, err
	}
	defer f.Close()
	res.manifest, err = backup.Read(&progressReader{r: f, p: prog, total: size}, func(e backup.Entry, c io.Reader) error {
		switch {
		case !restorableEntry(e.Name):
			return fmt.Errorf("%w: entry %q is not part of a bulwark data folder", backup.ErrFormat, e.Name)
		case strings.HasSuffix(e.Name, sealedSuffix):
			b, err := readSealed(e, c)
			sealed[strings.TrimSuffix(e.Name, sealedSuffix)] = b
			return err
		case strings.HasPrefix(e.Name, "audit/"):
			return writeEntry(root, e.Name, c)
		}
		return nil
	})
	if err != nil {
		return res, backupFileError(p, err)
	}
	if err := checkManifest(res.manifest); err != nil {
		return res, err
	}
	if res.chains, res.records, err = verifyStagedChains(ctx, stage, res.manifest.AuditKey); err != nil {
		return res, err
	}
	res.sealed = len(sealed)
	mk, ok, err := envMasterKey()
	if err != nil || !ok {
		return res, err
	}
	if err := checkManifestSeal(mk.keys, res.manifest); err != nil {
		return res, err
	}
	res.authentic = true
	for name, b := range sealed {
		raw, err := openSealedKey(mk.keys, res.manifest, name, b)
		if err != nil {
			return res, err
		}
		clear(raw)
		res.keysChecked++
	}
	return res, nil
}

// restoreResult is what restoreBackup did.
type restoreResult struct {
	manifest      backup.Manifest
	chains        int
	records       uint64
	auditKeyApart bool
	settled       int // ended tasks whose files came from their checkpoint
}

// restoreBackup writes the backup file p into the new data folder dir
// (see restoreUsage).
func restoreBackup(ctx context.Context, p, dir string, prog *progress) (restoreResult, error) {
	const op = "restore"
	var res restoreResult
	if err := emptyTarget(dir); err != nil {
		return res, err
	}
	mk, ok, err := envMasterKey()
	if err != nil {
		return res, err
	}
	if !ok {
		return res, bulwark.Errorf(bulwark.Invalid, op, "give the master key the backup was made with, in BULWARK_MASTER_KEY or in the file BULWARK_MASTER_KEY_FILE names: it is never in a backup")
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return res, bulwark.E(bulwark.Unavailable, op, "cannot create "+parent+": "+errText(err), err)
	}
	stage, err := os.MkdirTemp(parent, ".bulwark-restore-*")
	if err != nil {
		return res, bulwark.E(bulwark.Unavailable, op, "cannot write beside "+dir+": "+errText(err), err)
	}
	defer os.RemoveAll(stage)
	f, size, err := openBackupFile(p)
	if err != nil {
		return res, err
	}
	// The seal and what the manifest says are checked before anything is
	// written: a backup this master key did not make leaves nothing on
	// disk, whatever its size.
	var refused error
	res.manifest, err = backup.Extract(&progressReader{r: f, p: prog, total: size}, stage, restorableEntry, func(m backup.Manifest) error {
		if refused = checkManifestSeal(mk.keys, m); refused == nil {
			refused = checkManifest(m)
		}
		return refused
	})
	f.Close()
	if refused != nil {
		return res, refused
	}
	if err != nil {
		return res, backupFileError(p, err)
	}
	m := res.manifest

	prog.step("checking")
	// The sealed keys, opened into place.
	haveAuditKey := false
	for _, e := range m.Entries {
		name, ok := strings.CutSuffix(e.Name, sealedSuffix)
		if !ok {
			continue
		}
		if e.Size > maxSealedKey {
			return res, backupFileError(p, fmt.Errorf("%w: the sealed key %s has %d bytes", backup.ErrFormat, e.Name, e.Size))
		}
		sp := filepath.Join(stage, filepath.FromSlash(e.Name))
		b, err := os.ReadFile(sp)
		if err != nil {
			return res, err
		}
		raw, err := openSealedKey(mk.keys, m, name, b)
		if err != nil {
			return res, err
		}
		err = os.WriteFile(filepath.Join(stage, filepath.FromSlash(name)), raw, 0o600)
		clear(raw)
		if err != nil {
			return res, bulwark.E(bulwark.Unavailable, op, "cannot write the restored "+name+": "+errText(err), err)
		}
		if err := os.Remove(sp); err != nil {
			return res, err
		}
		haveAuditKey = haveAuditKey || name == backupAuditKey
	}
	if res.chains, res.records, err = verifyStagedChains(ctx, stage, m.AuditKey); err != nil {
		return res, err
	}
	res.auditKeyApart = res.chains > 0 && !haveAuditKey
	// The store must open with the key (its key check), as the server
	// will open it.
	db, err := openAt(ctx, storeLocation{dir: stage}, mk)
	if err != nil {
		return res, bulwark.E(bulwark.ErrorKind(err), op, "the restored store does not open: "+userMessage(err), err)
	}
	res.settled, err = settleEnded(ctx, stage, db)
	if err = errors.Join(err, db.Close()); err != nil {
		return res, bulwark.E(bulwark.Internal, op, "the files of tasks that ended during the backup could not be put in place: "+userMessage(err), err)
	}

	// Into place: the target must still be empty (os.Remove removes only
	// an empty folder).
	if err := emptyTarget(dir); err != nil {
		return res, err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, bulwark.E(bulwark.Conflict, op, dir+" is not empty: restore only into a new or empty folder", err)
	}
	if err := os.Rename(stage, dir); err != nil {
		return res, bulwark.E(bulwark.Unavailable, op, "cannot move the restored data folder to "+dir+": "+errText(err), err)
	}
	syncDir(parent)
	return res, nil
}

// emptyTarget checks that dir does not exist or is an empty folder.
func emptyTarget(dir string) error {
	const op = "restore"
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return bulwark.E(bulwark.Unavailable, op, "cannot read "+dir+": "+errText(err), err)
	case !fi.IsDir():
		return bulwark.Errorf(bulwark.Conflict, op, "%s is not a folder: restore only into a new or empty folder", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return bulwark.E(bulwark.Unavailable, op, "cannot read "+dir+": "+errText(err), err)
	}
	if len(ents) > 0 {
		return bulwark.Errorf(bulwark.Conflict, op, "%s is not empty (it holds %s): restore never overwrites; give a new or empty folder", dir, ents[0].Name())
	}
	return nil
}

// checkManifest checks what a manifest says against this bulwark.
func checkManifest(m backup.Manifest) error {
	switch {
	case m.Store != "sqlite":
		return bulwark.Errorf(bulwark.Invalid, "backup", "the backup holds a %q store; this bulwark restores sqlite", printable(m.Store))
	case m.Schema > sqlite.LatestSchemaVersion():
		return bulwark.Errorf(bulwark.Invalid, "backup", "the backup's store is at schema version %d, made by a newer bulwark (%s); this one knows version %d: restore it with that bulwark or a newer one",
			m.Schema, printable(m.Bulwark), sqlite.LatestSchemaVersion())
	}
	return nil
}

// openSealedKey opens the sealed key name of the backup with the master
// keys; the audit signing key must match the manifest's public key.
func openSealedKey(keys *secret.Keyring, m backup.Manifest, name string, sealed []byte) ([]byte, error) {
	raw, err := keys.Unwrap(sealedKeyAD(name), sealed)
	if err != nil {
		return nil, bulwark.E(bulwark.Invalid, "backup", "the master key given does not open the backup's sealed "+name+": it is not the key the backup was made with (or the backup was altered)", err)
	}
	if name == backupAuditKey {
		pub, err := signingPublicKey(raw)
		if err != nil || base64.StdEncoding.EncodeToString(pub) != m.AuditKey {
			clear(raw)
			return nil, bulwark.Errorf(bulwark.Invalid, "backup", "the backup's audit signing key does not match the public key its manifest names")
		}
	}
	return raw, nil
}

// signingPublicKey is the public key of an audit signing key file (PEM,
// PKCS #8, Ed25519).
func signingPublicKey(file []byte) (ed25519.PublicKey, error) {
	b, _ := pem.Decode(file)
	if b == nil {
		return nil, errors.New("not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("not an Ed25519 key")
	}
	return ek.Public().(ed25519.PublicKey), nil
}

// openBackupFile opens a backup file and returns its size.
func openBackupFile(p string) (*os.File, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, bulwark.E(bulwark.NotFound, "backup", "cannot open the backup "+p+": "+errText(err), err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, bulwark.Errorf(bulwark.Invalid, "backup", "%s is not a file", p)
	}
	return f, fi.Size(), nil
}

// readSealed reads a sealed key entry, bounded.
func readSealed(e backup.Entry, c io.Reader) ([]byte, error) {
	if e.Size > maxSealedKey {
		return nil, fmt.Errorf("%w: the sealed key %s has %d bytes", backup.ErrFormat, e.Name, e.Size)
	}
	return io.ReadAll(c)
}

// writeEntry writes an entry's content into root at its name.
func writeEntry(root *os.Root, name string, c io.Reader) error {
	if d := path.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	w, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, c)
	return errors.Join(err, w.Close())
}
