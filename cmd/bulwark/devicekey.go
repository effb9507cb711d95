package main

import (
	"crypto/rand"
	"errors"
	"io/fs"
	"os"

	"github.com/bulwark-agents/bulwark"
)

// loadDeviceKey reads the key that signs login device cookies from path,
// creating it (32 random bytes, mode 0600) the first time, so that device
// cookies stay valid across restarts.
func loadDeviceKey(path string) ([]byte, error) {
	const op = "serve"
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, bulwark.Errorf(bulwark.Invalid, op, "the device cookie key %s is not 32 bytes: remove it to make a new one (browsers then log in as new devices)", path)
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot read the device cookie key "+path+": "+errText(err), err)
	}
	b = make([]byte, 32)
	rand.Read(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot create the device cookie key "+path+": "+errText(err), err)
	}
	_, werr := f.Write(b)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(path)
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot write the device cookie key "+path+": "+errText(err), err)
	}
	return b, nil
}
