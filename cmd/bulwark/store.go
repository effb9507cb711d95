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
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// Names of the files in the data folder.
const (
	dbFileName        = "bulwark.db"
	masterKeyFileName = "master.key"
)

// openStore opens the store of the data folder (flag, then BULWARK_DATA,
// then ./bulwark-data) with the master key (BULWARK_MASTER_KEY, then
// BULWARK_MASTER_KEY_FILE, then master.key in the data folder, generated
// there with a warning on w when the folder is new). It returns the store
// and the data folder; the caller closes the store.
func openStore(ctx context.Context, dataFlag string, w io.Writer) (*sqlite.DB, string, error) {
	dir, err := dataDir(dataFlag)
	if err != nil {
		return nil, "", err
	}
	cfg, err := masterKeys(dir, w)
	if err != nil {
		return nil, "", err
	}
	cfg.Path = filepath.Join(dir, dbFileName)
	db, err := sqlite.Open(ctx, cfg)
	if err != nil {
		return nil, "", err
	}
	return db, dir, nil
}

// openLocalStore opens the store as openStore does and returns the local
// tenant too (created on first use): what `bulwark run` and the admin
// commands without --tenant work in.
func openLocalStore(ctx context.Context, dataFlag string, w io.Writer) (*sqlite.DB, bulwark.Tenant, string, error) {
	db, dir, err := openStore(ctx, dataFlag, w)
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

// masterKeys finds the master keys for the data folder dir.
func masterKeys(dir string, w io.Writer) (sqlite.Config, error) {
	const op = "masterKeys"
	inEnv, file := env("BULWARK_MASTER_KEY"), env("BULWARK_MASTER_KEY_FILE")
	switch {
	case inEnv != "" && file != "":
		return sqlite.Config{}, usagef("set BULWARK_MASTER_KEY or BULWARK_MASTER_KEY_FILE, not both")
	case inEnv != "":
		kr, err := secret.ParseKeyring([]byte(inEnv))
		if err != nil {
			return sqlite.Config{}, bulwark.E(bulwark.Invalid, op, "BULWARK_MASTER_KEY is not a master key: "+err.Error()+" (generate one with: head -c 32 /dev/urandom | base64)", err)
		}
		return sqlite.Config{Keys: kr, KeySource: "BULWARK_MASTER_KEY"}, nil
	case file != "":
		path, err := filepath.Abs(file)
		if err != nil {
			return sqlite.Config{}, bulwark.E(bulwark.Invalid, op, "BULWARK_MASTER_KEY_FILE is not a usable path", err)
		}
		kr, err := secret.ReadKeyFile(path)
		if err != nil {
			return sqlite.Config{}, keyFileError(op, path, err)
		}
		return sqlite.Config{Keys: kr, KeyFile: path}, nil
	}
	path := filepath.Join(dir, masterKeyFileName)
	kr, err := secret.ReadKeyFile(path)
	if err == nil {
		return sqlite.Config{Keys: kr, KeyFile: path}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return sqlite.Config{}, keyFileError(op, path, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, dbFileName)); err == nil && fi.Size() > 0 {
		return sqlite.Config{}, bulwark.Errorf(bulwark.Invalid, op,
			"the data folder %s holds encrypted data but no master key: set BULWARK_MASTER_KEY or BULWARK_MASTER_KEY_FILE to the key it was written with", dir)
	}
	kr, err = secret.CreateKeyFile(path)
	if err != nil {
		return sqlite.Config{}, bulwark.E(bulwark.Unavailable, op, "cannot create a master key in the data folder: "+errText(err), err)
	}
	fmt.Fprintf(w, "bulwark: WARNING: no master key was given, so one was generated into %s.\n"+
		"  Anyone who can read the data folder (or a backup of it) can now read its secrets too. Move the key out of it:\n"+
		"  keep it in a secrets manager and pass it as BULWARK_MASTER_KEY, or in a file elsewhere (mode 0600) named by\n"+
		"  BULWARK_MASTER_KEY_FILE, and back it up apart from the data: without it the data cannot be read.\n", path)
	return sqlite.Config{Keys: kr, KeyFile: path}, nil
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
