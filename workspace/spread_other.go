//go:build !linux

package workspace

import "errors"

// Spread marks folder dir as the top of folder trees where the file
// system reads such a mark (ext4 on Linux); elsewhere it does nothing and
// says so.
func Spread(dir string) error { return errors.ErrUnsupported }
