package sqlite

// ReplaceRows runs commit, which commits rows of the database at path
// written behind the store with raw SQL (as `bulwark db copy --force`
// replaces every table), as a change of every task's version and of the
// authentication version: a process holding the database open (a server
// keeping task answers and API keys while their versions hold) reads
// them again at its next request. The versions move before commit runs
// and are stable again after it returned, whether it failed or not.
func ReplaceRows(path string, commit func() error) error {
	tasks, err := openTaskVersions(path)
	if err != nil {
		return err
	}
	defer tasks.close()
	auth, err := openAuthVersion(path)
	if err != nil {
		return err
	}
	defer auth.close()
	c, err := tasks.begin()
	if err != nil {
		return err
	}
	defer c.end()
	c.touchAll()
	return auth.change(commit)
}
