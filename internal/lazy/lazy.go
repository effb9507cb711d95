// Package lazy holds values built on first use.
//
// Every bulwark command, `bulwark version` included, runs the package
// initialisation of every package the binary links. A package-level
// sync.OnceValue is a call made at init (two allocations, and an init
// function that touches its own pages); a package-level Value is a literal
// the compiler lays out in the binary, so a package whose tables and
// regexps are all Values has no init work at all (BENCHMARKS.md,
// "Start-up without html/template").
package lazy

import "sync"

// Value is the value New returns, built by the first Get. Declare it as a
// package-level literal, lazy.Value[T]{New: f}, and never copy it.
// Like sync.OnceValue, Get panics with New's panic value on every call if
// New panicked.
type Value[T any] struct {
	New func() T

	once  sync.Once
	valid bool
	p     any
	v     T
}

// Get returns the value, calling New the first time.
func (l *Value[T]) Get() T {
	l.once.Do(l.build)
	if !l.valid {
		panic(l.p)
	}
	return l.v
}

func (l *Value[T]) build() {
	defer func() {
		l.p = recover()
		if !l.valid {
			panic(l.p)
		}
	}()
	l.v = l.New()
	l.New = nil
	l.valid = true
}
