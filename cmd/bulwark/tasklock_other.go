//go:build !unix

package main

import "os"

// lockTaskFile does nothing where flock is missing: a server started while
// a `bulwark run` runs marks its task interrupted.
func lockTaskFile(*os.File, bool) (bool, error) { return true, nil }
