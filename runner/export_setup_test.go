package runner

// SetMaxSetupRetries sets how many runs of a task in a row may give it
// back to the queue as they set up (maxSetupRetries), until the returned
// function sets it back. Set it before any run starts.
func SetMaxSetupRetries(n int) (unset func()) {
	old := maxSetupRetries
	maxSetupRetries = n
	return func() { maxSetupRetries = old }
}
