package storecheck

import (
	"slices"
	"strings"

	"github.com/bulwark-agents/bulwark"
)

// SplitFamily splits the rows of a task-and-children query (the task id
// and its children, in any order) into the task, NotFound when it is not
// among them, and its children, newest first.
func SplitFamily(op, id string, ts []bulwark.Task) (bulwark.Task, []bulwark.Task, error) {
	i := slices.IndexFunc(ts, func(t bulwark.Task) bool { return t.ID == id })
	if i < 0 {
		return bulwark.Task{}, nil, bulwark.Errorf(bulwark.NotFound, op, "no such task")
	}
	t := ts[i]
	kids := slices.Delete(ts, i, i+1)
	slices.SortFunc(kids, func(a, b bulwark.Task) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	if len(kids) == 0 {
		kids = nil
	}
	return t, kids, nil
}
