package lazy

import (
	"sync"
	"testing"
)

var calls int

var counted = Value[int]{New: func() int { calls++; return 42 }}

func TestGetBuildsOnce(t *testing.T) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v := counted.Get(); v != 42 {
				t.Errorf("Get = %d, want 42", v)
			}
		}()
	}
	wg.Wait()
	if counted.Get() != 42 || calls != 1 {
		t.Errorf("New ran %d times, want 1", calls)
	}
}

func TestGetPanicsEveryTime(t *testing.T) {
	v := &Value[string]{New: func() string { panic("bad pattern") }}
	for i := range 2 {
		func() {
			defer func() {
				if r := recover(); r != "bad pattern" {
					t.Errorf("call %d: recovered %v, want New's panic", i, r)
				}
			}()
			v.Get()
			t.Errorf("call %d: Get returned", i)
		}()
	}
}
