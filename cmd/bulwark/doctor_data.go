package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// dataFolderCheck checks that the data folder can be shared by the
// processes that use it (the server, and the CLI beside it): every file
// the store, the audit chains and the task locks keep belongs to the
// folder's owner and opens for reading and writing here. A file made by
// a command run as another user (root, say) is one the server may not be
// able to write: its next audit record or task would fail.
func dataFolderCheck(data string) check {
	const name = "data folder access"
	root, err := os.Stat(data)
	if errors.Is(err, fs.ErrNotExist) {
		return check{name, "ok", "not created yet"}
	}
	if err != nil {
		return check{name, "FAIL", fmt.Sprintf("cannot read %s: %s", data, errText(err))}
	}
	owner, known := fileOwner(root)
	var problems []string
	visit := func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s cannot be read (%s)", rel(data, p), errText(err)))
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // gone meanwhile
		}
		if uid, ok := fileOwner(fi); ok && known && uid != owner {
			problems = append(problems, fmt.Sprintf("%s belongs to uid %d, the folder to uid %d", rel(data, p), uid, owner))
			return nil
		}
		if d.Type().IsRegular() {
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s cannot be written (%s)", rel(data, p), errText(err)))
				return nil
			}
			f.Close()
		}
		return nil
	}
	for _, p := range []string{"bulwark.db", "bulwark.db-wal", "bulwark.db-shm", "bulwark.db-auth", "bulwark.db-tasks", "audit", "running"} {
		p = filepath.Join(data, p)
		if _, err := os.Lstat(p); err == nil {
			filepath.WalkDir(p, visit)
		}
	}
	switch len(problems) {
	case 0:
		return check{name, "ok", "the store, the audit chains and the task locks can be written by this user, and by the server beside it"}
	case 1:
	default:
		problems[0] += fmt.Sprintf(" (and %d more)", len(problems)-1)
	}
	fix := "run every bulwark command as the user that runs the server"
	if known {
		fix += fmt.Sprintf(", and give the files back to it: chown -R %d %s", owner, data)
	}
	return check{name, "FAIL", problems[0] + ": " + fix}
}

// rel names p within data.
func rel(data, p string) string {
	if r, err := filepath.Rel(data, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
