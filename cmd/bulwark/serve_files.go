package main

import (
	"strconv"
	"strings"

	"github.com/bulwark-agents/bulwark/sandbox"
	"github.com/bulwark-agents/bulwark/server"
)

// fileSettings are the limits on the files of server tasks.
type fileSettings struct {
	maxSize int64    // BULWARK_MAX_FILE_SIZE: one upload, and each file kept
	types   []string // BULWARK_ALLOWED_FILE_TYPES: extensions of uploads
	quota   int64    // BULWARK_STORAGE_QUOTA: the files one tenant keeps
}

// readFileSettings reads the file limits from the environment; unset
// variables take the server's defaults.
func readFileSettings() (fileSettings, error) {
	fs := fileSettings{maxSize: server.DefaultMaxFileSize, quota: server.DefaultStorageQuota}
	for _, v := range []struct {
		name string
		to   *int64
	}{{"BULWARK_MAX_FILE_SIZE", &fs.maxSize}, {"BULWARK_STORAGE_QUOTA", &fs.quota}} {
		if s := env(v.name); s != "" {
			n, err := sandbox.ParseSize(s)
			if err != nil || n <= 0 {
				return fs, usagef("%s=%q: want a size such as 10MiB", v.name, s)
			}
			*v.to = n
		}
	}
	if s := env("BULWARK_ALLOWED_FILE_TYPES"); s != "" {
		for _, t := range strings.Split(s, ",") {
			t = strings.TrimSpace(t) // lowered once checked: ToLower makes the Kelvin sign a "k"
			if t == "" {
				continue
			}
			if !strings.HasPrefix(t, ".") {
				t = "." + t
			}
			// An extension is a dot and ASCII letters, digits, "_", "-" or
			// "+": the server matches them in ASCII only, and a name has
			// one extension (".tar.gz" would never match: give ".gz").
			if len(t) == 1 || strings.ContainsFunc(t[1:], func(r rune) bool {
				return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-' || r == '+')
			}) {
				return fs, usagef("BULWARK_ALLOWED_FILE_TYPES: %q is not an extension: give extensions of ASCII letters and digits, comma-separated, such as .txt,.csv,.png", t)
			}
			fs.types = append(fs.types, strings.ToLower(t))
		}
		if len(fs.types) == 0 {
			return fs, usagef("BULWARK_ALLOWED_FILE_TYPES=%q names no extension", s)
		}
	}
	return fs, nil
}

// readStreamLimits reads the caps on open event streams and long polls:
// BULWARK_MAX_STREAMS, BULWARK_MAX_STREAMS_PER_CLIENT,
// BULWARK_MAX_STREAMS_PER_KEY and BULWARK_MAX_STREAMS_PER_TENANT (unset:
// the server's defaults).
func readStreamLimits() (server.StreamLimits, error) {
	var l server.StreamLimits
	for _, v := range []struct {
		name string
		to   *int
	}{{"BULWARK_MAX_STREAMS", &l.Total}, {"BULWARK_MAX_STREAMS_PER_CLIENT", &l.PerClient}, {"BULWARK_MAX_STREAMS_PER_KEY", &l.PerKey}, {"BULWARK_MAX_STREAMS_PER_TENANT", &l.PerTenant}} {
		if s := env(v.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 || n > 1_000_000 {
				return l, usagef("%s=%q: want a whole number from 1 to 1000000", v.name, s)
			}
			*v.to = n
		}
	}
	return l, nil
}
