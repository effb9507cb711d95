// Package racetest runs the racers of attack tests: goroutines that do
// one thing again and again (plant a link, revoke a key, read a version)
// while the test does another, until the test says stop.
package racetest

import "sync"

// Loop runs body in n goroutines, each calling it again and again with
// its own number (0 to n-1), until the returned stop is called; stop
// returns once every goroutine has returned. A body that waits (a pause
// between two requests) delays stop by as much.
func Loop(n int, body func(i int)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				body(i)
			}
		})
	}
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
}
