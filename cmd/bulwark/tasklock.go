package main

import (
	"os"
	"path/filepath"

	"github.com/bulwark-agents/bulwark"
)

// A task that `bulwark run` runs is marked by a lock file in the data
// folder, running/TASK.lock, which the process holds (flock) from before
// the task is stored until it ends. A server starting on the same folder
// finds the task stored as running; the held lock tells it that the task
// is alive in another process rather than left by one that stopped, so it
// does not mark it interrupted (see runner.Config.RunElsewhere). The lock
// goes with the process, however it ends.

// taskLockPath returns the lock file of task id, or "" for an id that
// cannot name one.
func taskLockPath(data, id string) string {
	if id == "" || len(id) > 64 {
		return ""
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return ""
		}
	}
	return filepath.Join(data, "running", id+".lock")
}

// holdTaskLock creates and locks the lock file of task id for as long as
// this process runs it; release unlocks and removes it.
func holdTaskLock(data, id string) (release func(), err error) {
	const op = "run"
	p := taskLockPath(data, id)
	if p == "" {
		return nil, bulwark.Errorf(bulwark.Internal, op, "a task id that names no lock file")
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot create "+filepath.Dir(p)+": "+errText(err), err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot create the task's lock file in "+filepath.Dir(p)+": "+errText(err), err)
	}
	if held, err := lockTaskFile(f, true); err != nil || !held {
		f.Close()
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot lock the task's lock file "+p, err)
	}
	return func() {
		os.Remove(p) // before the lock goes: no one then finds it unlocked
		f.Close()
	}, nil
}

// taskRunByCLI reports whether a process holds the lock of task t: a
// `bulwark run` runs it now.
func taskRunByCLI(data string) func(bulwark.Task) bool {
	return func(t bulwark.Task) bool {
		p := taskLockPath(data, t.ID)
		if p == "" {
			return false
		}
		f, err := os.Open(p)
		if err != nil {
			return false
		}
		defer f.Close()
		got, err := lockTaskFile(f, false)
		return err == nil && !got
	}
}

// A running `bulwark serve` holds running/serve.lock in its data folder
// (flock) for as long as it runs, so that the terminal can tell a task it
// holds from one left by a process that stopped.
const serveLockName = "serve"

// holdServeLock marks the data folder as served by this process; release
// unlocks and removes the mark.
func holdServeLock(data string) (release func(), err error) {
	return holdTaskLock(data, serveLockName)
}

// servedNow reports whether a `bulwark serve` runs on the data folder now.
func servedNow(data string) bool {
	return taskRunByCLI(data)(bulwark.Task{ID: serveLockName})
}
