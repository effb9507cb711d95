//go:build unix

package export

import "syscall"

// oNoFollow makes opening a symlink fail (ELOOP).
const oNoFollow = syscall.O_NOFOLLOW
