package lazy

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestGetManyFirstUsers: many goroutines released at once on a Value no
// one has used all get the one value New built, New runs once, and the
// race detector sees no unsynchronised access to it (go test -race).
func TestGetManyFirstUsers(t *testing.T) {
	for round := range 50 {
		var built atomic.Int32
		v := &Value[*[64]int]{New: func() *[64]int {
			built.Add(1)
			a := new([64]int)
			for i := range a {
				runtime.Gosched()
				a[i] = i + round
			}
			return a
		}}
		start := make(chan struct{})
		got := make([]*[64]int, 64)
		var wg sync.WaitGroup
		for g := range got {
			wg.Go(func() {
				<-start
				got[g] = v.Get()
			})
		}
		close(start)
		wg.Wait()
		if n := built.Load(); n != 1 {
			t.Fatalf("round %d: New ran %d times, want 1", round, n)
		}
		for g, p := range got {
			if p != got[0] || p[63] != 63+round {
				t.Fatalf("round %d: goroutine %d got %p (last %d), goroutine 0 %p", round, g, p, p[63], got[0])
			}
		}
	}
}

// TestGetPanicReachesEveryUser: when New panics, every goroutine that
// uses the Value, at once or later, panics with New's value, and New is
// not run again: no user goes on with a zero value.
func TestGetPanicReachesEveryUser(t *testing.T) {
	bad := errors.New("bad table")
	var built atomic.Int32
	v := &Value[map[string]int]{New: func() map[string]int {
		built.Add(1)
		runtime.Gosched()
		panic(bad)
	}}
	start := make(chan struct{})
	got := make([]any, 32)
	var wg sync.WaitGroup
	for g := range got {
		wg.Go(func() {
			defer func() { got[g] = recover() }()
			<-start
			m := v.Get()
			got[g] = fmt.Sprintf("returned %v", m)
		})
	}
	close(start)
	wg.Wait()
	for g, r := range got {
		if r != bad {
			t.Errorf("goroutine %d: %v, want a panic with New's error", g, r)
		}
	}
	if n := built.Load(); n != 1 {
		t.Errorf("New ran %d times, want 1", n)
	}
}

// TestGetPanicsAsOnceValue: for each way New may end, Get panics (or
// returns) as sync.OnceValue of the same function does, on the first and
// the second call: the type it replaced.
func TestGetPanicsAsOnceValue(t *testing.T) {
	type result struct {
		v     int
		panic string
	}
	call := func(f func() int) (r result) {
		defer func() {
			if p := recover(); p != nil {
				r.panic = fmt.Sprintf("%T %v", p, p)
			}
		}()
		return result{v: f()}
	}
	for name, f := range map[string]func() int{
		"returns":         func() int { return 7 },
		"panics":          func() int { panic("x") },
		"panics with nil": func() int { panic(nil) },
		"panics an error": func() int { panic(errors.New("e")) },
		"runtime error":   func() int { var s []int; return s[len(os.Args)+1] }, // index out of range
		"nested Value":    func() int { return (&Value[int]{New: func() int { return 3 }}).Get() },
		"nested panic":    func() int { return (&Value[int]{New: func() int { panic("inner") }}).Get() },
	} {
		once := sync.OnceValue(f)
		v := &Value[int]{New: f}
		for i := range 2 {
			if got, want := call(v.Get), call(once); got != want {
				t.Errorf("%s, call %d: Get = %+v, sync.OnceValue %+v", name, i, got, want)
			}
		}
	}
}
