//go:build !unix

package audit

import "os"

// tryLock does nothing where flock is missing: run one writer per log.
func tryLock(*os.File, bool) (bool, error) { return true, nil }

func unlockFile(*os.File) error { return nil }
