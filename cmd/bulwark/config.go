package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// env reads the process environment; tests swap it.
var env = os.Getenv

// dataDir returns the data folder (flag, then BULWARK_DATA, then
// ./bulwark-data), created with mode 0700 if missing.
func dataDir(flagValue string) (string, error) {
	dir := flagValue
	if dir == "" {
		dir = env("BULWARK_DATA")
	}
	if dir == "" {
		dir = "bulwark-data"
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", bulwark.E(bulwark.Invalid, "dataDir", "the data folder path is not usable", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", bulwark.E(bulwark.Unavailable, "dataDir", "cannot create the data folder "+dir+": "+errText(err), err)
	}
	return dir, nil
}

// envOr reads a variable, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := env(name); v != "" {
		return v
	}
	return def
}

// envBool reads a boolean variable; unset or unparsable gives def, and an
// unparsable value is reported so a typo does not silently weaken a default.
func envBool(name string, def bool) (bool, error) {
	v := env(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return def, usagef("%s=%q is not true or false", name, v)
	}
	return b, nil
}

// envDuration reads a duration variable such as "30s".
func envDuration(name string, def time.Duration) (time.Duration, error) {
	v := env(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		if _, nerr := strconv.ParseFloat(v, 64); nerr == nil {
			return def, usagef("%s=%q: a duration needs a unit: %ss (seconds), %sm (minutes) or %sh (hours)", name, v, v, v, v)
		}
		return def, usagef("%s=%q is not a positive duration such as 30s", name, v)
	}
	return d, nil
}

// errText is the part of an OS error worth showing: "permission denied"
// rather than the whole wrapped chain.
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
