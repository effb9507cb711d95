// Package initbin holds what `go generate ./sandbox` writes here (the
// standalone sandbox init and its stamp, README.md), embedded: in a
// package of its own so that package early, which starts an init before
// package sandbox is initialised, reads the same files.
package initbin

import "embed"

// FS is this folder: README.md and this file in a plain build, the
// standalone init and its stamp too after go generate.
//
//go:embed *
var FS embed.FS
