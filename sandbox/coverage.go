package sandbox

// Uncovered reports a path of the workspace that matches Spec.Hide now
// but that the process's sandbox did not cover when it started, so that
// the process may reach it: a file or folder that got a hidden name since
// (secrets/new under secrets/*, where only secrets/k was there to cover;
// any match where none was), or a covered name that names another file
// now (replaced since, or a folder renamed away and made again). A
// command of Run looks at the workspace at each start; a process of Start
// lives on with what it found then, so a caller that lets it read the
// workspace across a long life asks before trusting what it says. It
// returns "" when there is none, and always for a Spec without Hide or an
// unsandboxed process; an error (kind Invalid) when the workspace cannot
// be looked through (the bounds of Spec.Hide), which the caller treats as
// an uncovered path (fail closed). The answer holds for the moment it
// was looked: a name that appears and goes between two questions is not
// seen.
func (p *Process) Uncovered() (string, error) {
	if p.cov == nil {
		return "", nil
	}
	return p.cov.uncovered()
}

// Covers reports whether the process's sandbox covers the workspace path
// rel (relative, clean) now: it covered that name at its start, and the
// name still names the file it covered then. A folder it covers hides
// what is put in it later too. False for an unsandboxed process or a
// Spec without Hide.
func (p *Process) Covers(rel string) bool {
	if p.cov == nil {
		return false
	}
	return p.cov.covers(rel)
}
