package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// Names of the files in the data folder.
const (
	dbFileName        = "bulwark.db"
	masterKeyFileName = "master.key"
)

// store is what the commands use of the store: all of bulwark.Store, what
// the runtime and the server read and write, and the schema version (for
// doctor and db migrate). *sqlite.DB implements it, and so must the
// PostgreSQL store.
type store interface {
	bulwark.Store
	runner.Store
	bulwark.ArtifactStore
	bulwark.UsageStore
	bulwark.CheckpointStore
	bulwark.ControlStore
	bulwark.ScheduleStore
	bulwark.MemoryStore
	// SchemaVersion is the newest migration applied to the database.
	SchemaVersion(ctx context.Context) (int, error)
}

var _ store = (*sqlite.DB)(nil)

// openPostgres opens (migrating it) the PostgreSQL store at url with the
// master keys keys (keySource says where they came from, for keys
// status). It is nil in a build without PostgreSQL support.
var openPostgres func(ctx context.Context, url string, keys *secret.Keyring, keySource string, pool poolOptions) (store, error)

// storeFlags are the flags that say where the store is: --data, the data
// folder (the SQLite database, and the files of any store: audit log,
// workspaces, device key), and --database-url.
type storeFlags struct {
	data string
	url  string
}

// addStoreFlags adds --data and --database-url to fs.
func addStoreFlags(fs *flagSet) *storeFlags {
	sf := &storeFlags{}
	fs.StringVar(&sf.data, "data", "", "data `DIR` (default $BULWARK_DATA or ./bulwark-data)")
	fs.StringVar(&sf.url, "database-url", "", "keep the store in the PostgreSQL database at `URL` (postgres://...; default $BULWARK_DATABASE_URL; unset: SQLite in the data folder)")
	return sf
}

// databaseURL is the PostgreSQL URL the flag or else BULWARK_DATABASE_URL
// gives, or "" for SQLite; any other URL is a usage error.
func (sf storeFlags) databaseURL() (string, error) {
	what, u := "--database-url", sf.url
	if u == "" {
		what, u = "BULWARK_DATABASE_URL", env("BULWARK_DATABASE_URL")
	}
	pg, err := postgresURL(what, u)
	if err != nil || !pg {
		return "", err
	}
	hidePasswords(u)
	return u, nil
}

// storeLocation is where a store is: the PostgreSQL database at url, or
// else the SQLite database of the data folder dir.
type storeLocation struct {
	dir string
	url string
}

func (l storeLocation) postgres() bool { return l.url != "" }

// String names the location for messages, without the URL's password.
func (l storeLocation) String() string {
	if l.postgres() {
		return "PostgreSQL " + maskURL(l.url)
	}
	return "SQLite " + filepath.Join(l.dir, dbFileName)
}

// errNoPostgresSupport is the answer to a PostgreSQL URL in a build
// without openPostgres.
var errNoPostgresSupport = &bulwark.Error{Kind: bulwark.Invalid, Op: "openStore", // a literal: no init work
	Msg: "a PostgreSQL database was given, but this build has no PostgreSQL support: leave --database-url and BULWARK_DATABASE_URL unset to use SQLite in the data folder"}

// openStore opens the store that the flags, BULWARK_DATABASE_URL and
// BULWARK_DATA say, with the master key (BULWARK_MASTER_KEY, then
// BULWARK_MASTER_KEY_FILE; for SQLite only, then master.key in the data
// folder, generated there with a warning on w when the folder is new). It
// returns the store and the data folder (flag, then BULWARK_DATA, then
// ./bulwark-data), which keeps the files of any store; the caller closes
// the store.
func openStore(ctx context.Context, sf storeFlags, w io.Writer) (store, string, error) {
	u, err := sf.databaseURL()
	if err != nil {
		return nil, "", err
	}
	if warning := passwordInFlag("--database-url", sf.url); warning != "" {
		fmt.Fprintln(w, "bulwark: "+warning)
	}
	dir, err := dataDir(sf.data)
	if err != nil {
		return nil, "", err
	}
	loc := storeLocation{dir: dir, url: u}
	var mk masterKey
	if loc.postgres() {
		mk, err = postgresMasterKey()
	} else {
		mk, err = masterKeys(dir, w)
	}
	if err != nil {
		return nil, "", err
	}
	db, err := openAt(ctx, loc, mk)
	if err != nil {
		return nil, "", err
	}
	return db, dir, nil
}

// openAt opens the store at loc with mk.
func openAt(ctx context.Context, loc storeLocation, mk masterKey) (store, error) {
	if !loc.postgres() {
		db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(loc.dir, dbFileName), Keys: mk.keys, KeyFile: mk.file, KeySource: mk.source})
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	pool, err := readPoolOptions()
	if err != nil {
		return nil, err
	}
	if openPostgres == nil {
		return nil, errNoPostgresSupport
	}
	hidePasswords(loc.url)
	source := mk.source
	if source == "" {
		source = "file " + mk.file
	}
	db, err := openPostgres(ctx, loc.url, mk.keys, source, pool)
	if err != nil {
		var be *bulwark.Error
		if errors.As(err, &be) {
			return nil, err
		}
		return nil, bulwark.E(bulwark.Unavailable, "openStore", "cannot open the "+loc.String()+": "+scrubURL(err.Error(), loc.url), err)
	}
	return db, nil
}

// openLocalStore opens the store as openStore does and returns the local
// tenant too (created on first use): what `bulwark run` and the admin
// commands without --tenant work in.
func openLocalStore(ctx context.Context, sf storeFlags, w io.Writer) (store, bulwark.Tenant, string, error) {
	db, dir, err := openStore(ctx, sf, w)
	if err != nil {
		return nil, bulwark.Tenant{}, "", err
	}
	t, err := db.LocalTenant(ctx)
	if err != nil {
		db.Close()
		return nil, bulwark.Tenant{}, "", err
	}
	return db, t, dir, nil
}

// masterKey is a master keyring and where it came from: file is the key
// file it was read from, source names the variable otherwise.
type masterKey struct {
	keys   *secret.Keyring
	file   string
	source string
}

// masterKeyCredential is the name of the systemd credential that holds the
// master key (LoadCredential=bulwark.master-key:/etc/bulwark/master.key).
const masterKeyCredential = "bulwark.master-key"

// credentialKeyPath is the master key credential's path when systemd gave
// this process one ($CREDENTIALS_DIRECTORY/bulwark.master-key exists), else "".
func credentialKeyPath() string {
	dir := env("CREDENTIALS_DIRECTORY")
	if dir == "" || !filepath.IsAbs(dir) {
		return ""
	}
	p := filepath.Join(dir, masterKeyCredential)
	if _, err := os.Lstat(p); err != nil {
		return ""
	}
	return p
}

// envMasterKey reads the master key from BULWARK_MASTER_KEY, the file
// BULWARK_MASTER_KEY_FILE names, or the systemd credential
// bulwark.master-key; ok is false when none is there. More than one is a
// usage error: which key opens the data must never be a guess. The
// credential is read-only (systemd copies it at start): it is a source
// like the variable, which rotation cannot write to.
func envMasterKey() (mk masterKey, ok bool, err error) {
	const op = "masterKeys"
	inEnv, file, cred := env("BULWARK_MASTER_KEY"), env("BULWARK_MASTER_KEY_FILE"), credentialKeyPath()
	given := 0
	for _, s := range []string{inEnv, file, cred} {
		if s != "" {
			given++
		}
	}
	switch {
	case given > 1:
		return mk, false, usagef("set one of BULWARK_MASTER_KEY, BULWARK_MASTER_KEY_FILE or the systemd credential " + masterKeyCredential + ", not more")
	case cred != "":
		kr, err := secret.ReadKeyCredential(cred)
		if err != nil {
			return mk, false, keyFileError(op, cred, err)
		}
		return masterKey{keys: kr, source: "the systemd credential " + masterKeyCredential}, true, nil
	case inEnv != "":
		kr, err := secret.ParseKeyring([]byte(inEnv))
		if err != nil {
			return mk, false, bulwark.E(bulwark.Invalid, op, "BULWARK_MASTER_KEY is not a master key: "+err.Error()+" (generate one with: head -c 32 /dev/urandom | base64)", err)
		}
		return masterKey{keys: kr, source: "BULWARK_MASTER_KEY"}, true, nil
	case file != "":
		path, err := filepath.Abs(file)
		if err != nil {
			return mk, false, bulwark.E(bulwark.Invalid, op, "BULWARK_MASTER_KEY_FILE is not a usable path", err)
		}
		kr, err := secret.ReadKeyFile(path)
		if err != nil {
			return mk, false, keyFileError(op, path, err)
		}
		return masterKey{keys: kr, file: path}, true, nil
	}
	return mk, false, nil
}

// errNoPostgresKey is why a PostgreSQL store is not opened without a key
// from the environment.
var errNoPostgresKey = &bulwark.Error{Kind: bulwark.Invalid, Op: "masterKeys", // a literal: no init work
	Msg: "a PostgreSQL store needs the master key in BULWARK_MASTER_KEY or in the file BULWARK_MASTER_KEY_FILE names (under systemd, the credential " + masterKeyCredential + " may hold it): " +
		"it is never generated nor read from the data folder for a database that several nodes share " +
		"(generate one with: head -c 32 /dev/urandom | base64)"}

// postgresMasterKey is the master key of a PostgreSQL store: from
// BULWARK_MASTER_KEY or BULWARK_MASTER_KEY_FILE only.
func postgresMasterKey() (masterKey, error) {
	mk, ok, err := envMasterKey()
	if err == nil && !ok {
		err = errNoPostgresKey
	}
	return mk, err
}

// masterKeys finds the master keys for the SQLite store of the data folder
// dir: from the environment, else the data folder's key file, created
// (with a warning on w) when the folder holds no data yet.
func masterKeys(dir string, w io.Writer) (masterKey, error) {
	const op = "masterKeys"
	if mk, ok, err := envMasterKey(); ok || err != nil {
		return mk, err
	}
	path := filepath.Join(dir, masterKeyFileName)
	kr, err := secret.ReadKeyFile(path)
	if err == nil {
		return masterKey{keys: kr, file: path}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return masterKey{}, keyFileError(op, path, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, dbFileName)); err == nil && fi.Size() > 0 {
		return masterKey{}, bulwark.Errorf(bulwark.Invalid, op,
			"the data folder %s holds encrypted data but no master key: set BULWARK_MASTER_KEY or BULWARK_MASTER_KEY_FILE to the key it was written with", dir)
	}
	kr, err = secret.CreateKeyFile(path)
	if err != nil {
		return masterKey{}, bulwark.E(bulwark.Unavailable, op, "cannot create a master key in the data folder: "+errText(err), err)
	}
	fmt.Fprintf(w, "bulwark: WARNING: no master key was given, so one was generated into %s.\n"+
		"  Anyone who can read the data folder (or a backup of it) can now read its secrets too. Move the key out of it:\n"+
		"  keep it in a secrets manager and pass it as BULWARK_MASTER_KEY, or in a file elsewhere (mode 0600) named by\n"+
		"  BULWARK_MASTER_KEY_FILE, and back it up apart from the data: without it the data cannot be read.\n", path)
	return masterKey{keys: kr, file: path}, nil
}

func keyFileError(op, path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return bulwark.E(bulwark.Invalid, op, fmt.Sprintf("the master key file %s does not exist", path), err)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return bulwark.E(bulwark.Unavailable, op, fmt.Sprintf("cannot read the master key file %s: %s", path, errText(err)), err)
	}
	return bulwark.E(bulwark.Invalid, op, err.Error(), err) // ReadKeyFile's own messages name the file and hold no key
}
