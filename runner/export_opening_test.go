package runner

// SetTestHookOpening sets the function called each time a run finds its
// new turn still opening (turnHistory), until the returned function
// unsets it. Set it before the runtime that runs the task is made.
func SetTestHookOpening(f func(taskID string)) (unset func()) {
	testHookOpening = f
	return func() { testHookOpening = nil }
}
