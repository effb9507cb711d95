package main

import (
	"archive/tar"
	"context"
	"crypto/ed25519"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/backup"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/secret"
)

// What a backup of a data folder holds (entry names, slash paths that are
// also where each file goes in a restored data folder, but for the
// sealed keys, which are unsealed into the name without ".sealed"):
//
//	bulwark.db                      the SQLite store, VACUUM INTO'd
//	audit/audit.log[.checkpoints]   the system chain
//	audit/tenants/ID.log[.checkpoints]  each tenant's chain
//	keys/audit-signing.key.sealed   the audit signing key, sealed
//	device.key.sealed               the device cookie key, sealed
//
// Never: the master key, the plain workspace folders of running tasks,
// the task locks, the audit index (rebuilt), last-backup.json.
const (
	backupAuditKey  = "keys/audit-signing.key"
	backupDeviceKey = "device.key"
	sealedSuffix    = ".sealed"
)

// backupChainName is compiled on first use: its counted repetition
// unrolls into about 1,400 allocations, which every command would pay at
// init (TestInitBudget).
var backupChainName = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp {
	return regexp.MustCompile(`^audit/(audit\.log|tenants/[A-Za-z0-9_-]{1,100}\.log)(\.checkpoints)?$`)
}}

// restorableEntry says whether a backup entry is one a data folder holds.
func restorableEntry(name string) bool {
	switch name {
	case dbFileName, backupAuditKey + sealedSuffix, backupDeviceKey + sealedSuffix:
		return true
	}
	return backupChainName.Get().MatchString(name)
}

// sealedKeyAD binds a sealed key to its name in the backup.
func sealedKeyAD(name string) []byte { return secret.AD("", "backup.key", name) }

// manifestSealAD binds the seal of a backup's manifest hash (a function,
// not a variable built at init: every command runs main's init).
func manifestSealAD() []byte { return secret.AD("", "backup.manifest", "") }

// sealManifest seals a manifest's hash with the master keys: only who
// holds the master key can make a backup that restore accepts.
func sealManifest(keys *secret.Keyring) func(sum [32]byte) ([]byte, error) {
	return func(sum [32]byte) ([]byte, error) {
		sealed, _, err := keys.Wrap(manifestSealAD(), sum[:])
		return sealed, err
	}
}

// checkManifestSeal checks that the master keys sealed m's hash.
func checkManifestSeal(keys *secret.Keyring, m backup.Manifest) error {
	if v := m.MasterKeyVersion; v != 0 && !keys.Has(v) {
		// Retired since, most often: say so rather than suspect the
		// backup (red team, session 42).
		return bulwark.Errorf(bulwark.Invalid, "backup", "the backup was sealed with master key version %d, which this key does not hold (retired since?): restore with a key file that holds v%d (a copy of the one from before the retirement)", v, v)
	}
	sum, err := keys.Unwrap(manifestSealAD(), m.Seal)
	if err != nil || subtle.ConstantTimeCompare(sum, m.Sum[:]) != 1 {
		return bulwark.Errorf(bulwark.Invalid, "backup", "the backup's manifest is not sealed by this master key: it was made with another key, or altered (its checksums made again) by someone without the key")
	}
	return nil
}

// backupResult is what makeBackup did.
type backupResult struct {
	file          string
	size          int64 // of the file
	storeSize     int64
	manifest      backup.Manifest
	chains        int
	records       uint64
	auditKeyApart bool
	auditKeyPath  string
	recordErr     error
}

// makeBackup writes a backup of the data folder data to out (see
// backup_make.go's top and backupUsage).
func makeBackup(ctx context.Context, data, out string, prog *progress, s stdio) (backupResult, error) {
	const op = "backup"
	var res backupResult
	out, err := filepath.Abs(out)
	if err != nil {
		return res, usagef("backup: --out %q is not a usable path", out)
	}
	res.file = out
	if fi, err := os.Stat(filepath.Join(data, dbFileName)); err != nil || fi.Size() == 0 {
		return res, bulwark.Errorf(bulwark.NotFound, op, "the data folder %s holds no store (no %s): --data names the data folder of the installation", data, dbFileName)
	}
	if err := checkBackupOut(out, data); err != nil {
		return res, err
	}
	mk, err := masterKeys(data, s.err)
	if err != nil {
		return res, err
	}
	// The master key must open the store: a backup that no key restores
	// is worth nothing. This opens it as every command beside a running
	// server does.
	db, err := openAt(ctx, storeLocation{dir: data}, mk)
	if err != nil {
		return res, err
	}
	schema, err := db.SchemaVersion(ctx)
	db.Close()
	if err != nil {
		return res, err
	}

	// Everything is staged in a private folder beside the output (the same
	// file system, so that the final rename is atomic), removed at the end.
	stage, err := os.MkdirTemp(filepath.Dir(out), ".bulwark-backup-*")
	if err != nil {
		return res, bulwark.E(bulwark.Unavailable, op, "cannot write beside "+out+": "+errText(err), err)
	}
	defer os.RemoveAll(stage)
	var names []string

	// 1. The store, then the chains: every change the copied store holds
	// was recorded before the chains are copied (a change is stored, then
	// audited), so its record is in the backup too.
	prog.step("copying the store")
	if err := vacuumInto(ctx, data, filepath.Join(stage, dbFileName)); err != nil {
		return res, err
	}
	if fi, err := os.Stat(filepath.Join(stage, dbFileName)); err == nil {
		res.storeSize = fi.Size()
	}
	names = append(names, dbFileName)

	prog.step("copying the audit log")
	auditDir, keyPath := auditPaths(data)
	chainNames, err := snapshotChains(ctx, auditDir, filepath.Join(stage, "audit"))
	if err != nil {
		return res, err
	}
	names = append(names, chainNames...)

	// 2. The keys that belong with the data, sealed with the master key.
	// The audit signing key is included when it lives in the data folder;
	// one kept apart (BULWARK_AUDIT_KEY_FILE elsewhere) stays apart, as
	// the master key does.
	m := backup.Manifest{Created: time.Now().UTC(), Bulwark: buildVersion(), Store: "sqlite", Schema: schema, MasterKeyVersion: mk.keys.Current()}
	if len(chainNames) > 0 && !fileExists(keyPath) {
		return res, bulwark.Errorf(bulwark.Unavailable, op, "the audit signing key %s is missing: set BULWARK_AUDIT_KEY_FILE to where it is kept", keyPath)
	}
	if fileExists(keyPath) {
		key, _, err := audit.LoadOrCreateSigningKey(keyPath) // it exists: only loaded
		if err != nil {
			return res, bulwark.E(bulwark.Unavailable, op, "the audit signing key "+keyPath+" cannot be used: "+err.Error(), err)
		}
		m.AuditKey = base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
		if within(keyPath, data) {
			if err := sealFile(mk.keys, keyPath, stage, backupAuditKey); err != nil {
				return res, err
			}
			names = append(names, backupAuditKey+sealedSuffix)
		} else {
			res.auditKeyApart, res.auditKeyPath = true, keyPath
		}
	}
	if p := filepath.Join(data, backupDeviceKey); fileExists(p) {
		if err := sealFile(mk.keys, p, stage, backupDeviceKey); err != nil {
			return res, err
		}
		names = append(names, backupDeviceKey+sealedSuffix)
	}

	// 3. The chains copied must verify, before anything is written.
	if res.chains, res.records, err = verifyStagedChains(ctx, stage, m.AuditKey); err != nil {
		return res, err
	}

	// 4. The file, written beside out and renamed into place once read
	// back whole.
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return res, bulwark.E(bulwark.Unavailable, op, "cannot write beside "+out+": "+errText(err), err)
	}
	defer os.Remove(tmp.Name())
	if res.manifest, err = backup.Write(tmp, m, stage, names, sealManifest(mk.keys), prog.bytes); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, bulwark.E(bulwark.Unavailable, op, "cannot write the backup: "+errText(err), err)
	}
	prog.step("reading it back")
	back, err := readBackupFile(tmp.Name(), nil)
	if err == nil {
		err = checkManifestSeal(mk.keys, back)
	}
	if err != nil {
		return res, bulwark.E(bulwark.Internal, op, "the backup written does not read back: "+userMessage(err), err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return res, bulwark.E(bulwark.Unavailable, op, "cannot move the backup to "+out+": "+errText(err), err)
	}
	syncDir(filepath.Dir(out))
	if fi, err := os.Stat(out); err == nil {
		res.size = fi.Size()
	}
	res.recordErr = recordBackup(data, lastBackup{Time: m.Created, File: out, Size: res.size})
	return res, nil
}

// checkBackupOut refuses an output path that would replace something
// other than an earlier backup: a folder, a file inside the data folder
// (its store, say; and a backup kept beside the data is lost with it), or
// any existing file that is not a bulwark backup (a master key file kept
// apart, say).
func checkBackupOut(out, data string) error {
	if within(out, data) || within(realPath(filepath.Dir(out)), realPath(data)) {
		return usagef("backup: --out %s is inside the data folder %s: keep backups elsewhere (a disk lost takes both)", out, data)
	}
	fi, err := os.Lstat(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return bulwark.E(bulwark.Unavailable, "backup", "cannot read "+out+": "+errText(err), err)
	case !fi.Mode().IsRegular():
		return usagef("backup: --out %s exists and is not a file; name a new file, or an earlier backup to replace", out)
	}
	f, err := os.Open(out)
	if err != nil {
		return bulwark.E(bulwark.Unavailable, "backup", "cannot read "+out+": "+errText(err), err)
	}
	defer f.Close()
	if hdr, err := tar.NewReader(f).Next(); err != nil || hdr.Name != backup.ManifestName {
		return bulwark.Errorf(bulwark.Conflict, "backup", "%s exists and is not a bulwark backup: refusing to replace it; name a new file", out)
	}
	return nil
}

// realPath is p with its symlinks resolved, or p when it cannot be.
func realPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// vacuumInto writes a copy of the data folder's SQLite store to dst with
// VACUUM INTO: one read transaction, so the copy is the store as it stood
// at one moment while the server goes on writing; a fresh file without
// free pages, so nothing deleted comes along.
func vacuumInto(ctx context.Context, data, dst string) error {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, dbFileName)+"?"+q.Encode())
	if err != nil {
		return bulwark.E(bulwark.Unavailable, "backup", "cannot open the store: "+err.Error(), err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return bulwark.E(bulwark.Unavailable, "backup", "cannot copy the store: "+err.Error(), err)
	}
	return nil
}

// snapshotChains copies every chain of the audit folder dir into the
// folder to (the same layout) and returns the entry names.
func snapshotChains(ctx context.Context, dir, to string) ([]string, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	src, dst := audit.FileDir{Path: dir, ReadOnly: true}, audit.FileDir{Path: to}
	chains, err := src.List(ctx)
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, "backup", "cannot list the audit chains: "+err.Error(), err)
	}
	var names []string
	for _, c := range chains {
		from, _ := src.LogPath(c)
		into, err := dst.LogPath(c)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(into), 0o700); err != nil {
			return nil, err
		}
		rf, err := os.OpenFile(into, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		cf, err := os.OpenFile(into+".checkpoints", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			rf.Close()
			return nil, err
		}
		_, err = audit.SnapshotFile(from, rf, cf)
		err = errors.Join(err, rf.Close(), cf.Close())
		if err != nil {
			return nil, bulwark.E(bulwark.Unavailable, "backup", "cannot copy the audit log: "+err.Error(), err)
		}
		rel, _ := filepath.Rel(filepath.Dir(to), into)
		rel = filepath.ToSlash(rel)
		names = append(names, rel, rel+".checkpoints")
	}
	return names, nil
}

// verifyStagedChains verifies the chains under root/audit with the public
// key pub (base64) and counts them and their records.
func verifyStagedChains(ctx context.Context, root, pub string) (chains int, records uint64, err error) {
	dir := filepath.Join(root, "audit")
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	key, err := base64.StdEncoding.DecodeString(pub)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return 0, 0, bulwark.Errorf(bulwark.Invalid, "backup", "the backup holds audit chains but no valid audit public key")
	}
	// The backup holds the public key: its checkpoints are checked, not
	// its records' MACs (restored, `bulwark audit verify` checks those).
	reps, err := audit.VerifyAll(ctx, audit.FileDir{Path: dir, ReadOnly: true}, audit.PublicOnly(key))
	if err != nil {
		return 0, 0, bulwark.E(bulwark.Invalid, "backup", "the audit log in the backup cannot be read: "+err.Error(), err)
	}
	for _, r := range reps {
		if r.Err != nil {
			return 0, 0, bulwark.E(bulwark.Invalid, "backup", "the "+chainName(r.Chain)+" of the audit log in the backup is NOT intact: "+r.Err.Error(), r.Err)
		}
		records += r.Report.Records
	}
	return len(reps), records, nil
}

// sealFile seals the file at p with the master keys into stage/name.sealed.
func sealFile(keys *secret.Keyring, p, stage, name string) error {
	raw, err := os.ReadFile(p)
	if err != nil {
		return bulwark.E(bulwark.Unavailable, "backup", "cannot read "+p+": "+errText(err), err)
	}
	sealed, _, err := keys.Wrap(sealedKeyAD(name), raw)
	clear(raw)
	if err != nil {
		return bulwark.E(bulwark.Internal, "backup", "cannot seal "+name, err)
	}
	dst := filepath.Join(stage, filepath.FromSlash(name+sealedSuffix))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	return os.WriteFile(dst, sealed, 0o600)
}

// readBackupFile reads and checks the backup at p (see backup.Read).
func readBackupFile(p string, visit func(backup.Entry, io.Reader) error) (backup.Manifest, error) {
	f, err := os.Open(p)
	if err != nil {
		return backup.Manifest{}, bulwark.E(bulwark.NotFound, "backup", "cannot open the backup "+p+": "+errText(err), err)
	}
	defer f.Close()
	m, err := backup.Read(f, visit)
	return m, backupFileError(p, err)
}

// backupFileError says what is wrong with the backup file p.
func backupFileError(p string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, backup.ErrFormat), errors.Is(err, backup.ErrChecksum):
		return bulwark.E(bulwark.Invalid, "backup", p+" is damaged or not a bulwark backup: "+err.Error(), err)
	}
	var be *bulwark.Error
	if errors.As(err, &be) {
		return err
	}
	return bulwark.E(bulwark.Unavailable, "backup", "cannot read "+p+": "+errText(err), err)
}

// lastBackup is what the data folder's last-backup.json records of the
// last backup made, for doctor.
type lastBackup struct {
	Time time.Time `json:"time"`
	File string    `json:"file"`
	Size int64     `json:"size"`
}

const lastBackupFile = "last-backup.json"

// recordBackup writes last-backup.json into the data folder (atomically).
func recordBackup(data string, lb lastBackup) error {
	b, _ := json.Marshal(lb)
	tmp, err := os.CreateTemp(data, "."+lastBackupFile+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(b, '\n'))
	if err = errors.Join(err, tmp.Close()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(data, lastBackupFile))
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// syncDir makes a rename in dir durable; failures are ignored (not every
// file system syncs folders).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// buildVersion is this binary's version, as `bulwark version` prints it.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
