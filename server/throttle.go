package server

import (
	"sync"
	"time"
)

// throttlePolicy says how failed logins slow down and lock a key (an
// account or a client address): the first free failures cost nothing;
// after each later one, the next attempt must wait base, 2*base, 4*base...
// up to maxDelay; at lockAt failures the key is locked for lockFor.
// Failures are forgotten failureWindow after the last one.
type throttlePolicy struct {
	free     int
	base     time.Duration
	maxDelay time.Duration
	lockAt   int
	lockFor  time.Duration
}

var (
	accountPolicy = throttlePolicy{free: 3, base: time.Second, maxDelay: time.Minute, lockAt: 10, lockFor: 15 * time.Minute}
	addressPolicy = throttlePolicy{free: 10, base: time.Second, maxDelay: time.Minute, lockAt: 100, lockFor: 15 * time.Minute}
)

const failureWindow = 15 * time.Minute

// loginThrottle counts failed logins by account (the email given, whether
// or not such a user exists, so that a lock says nothing about which
// accounts exist) and by client address. It is in memory: each server
// process counts its own, and a restart forgets them.
type loginThrottle struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*failState
}

type failState struct {
	n      int
	last   time.Time // the last failure
	until  time.Time // no attempt before this
	locked bool      // until ends a lock, after which the count restarts
}

func newLoginThrottle(now func() time.Time) *loginThrottle {
	return &loginThrottle{now: now, m: map[string]*failState{}}
}

// wait returns how long key must wait before its next attempt (0: now).
func (t *loginThrottle) wait(key string) time.Duration {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.m[key]
	if st == nil {
		return 0
	}
	if now.Before(st.until) {
		return st.until.Sub(now)
	}
	if st.locked || now.Sub(st.last) >= failureWindow {
		delete(t.m, key) // forgotten, or a lock served
	}
	return 0
}

// fail counts a failure of key and reports whether key is now locked.
func (t *loginThrottle) fail(key string, p throttlePolicy) bool {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.m[key]
	if st == nil || now.Sub(st.last) >= failureWindow {
		t.evict(now)
		st = &failState{}
		t.m[key] = st
	}
	st.n++
	st.last = now
	switch {
	case st.n >= p.lockAt:
		st.until, st.locked = now.Add(p.lockFor), true
		return true
	case st.n > p.free:
		d := p.maxDelay
		if shift := st.n - p.free - 1; shift < 30 {
			d = min(p.base<<shift, p.maxDelay)
		}
		st.until = now.Add(d)
	}
	return false
}

// reset forgets key's failures (after a successful login of the account).
func (t *loginThrottle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}

// evict drops forgotten entries when the table is full, then any. t.mu
// is held.
func (t *loginThrottle) evict(now time.Time) {
	if len(t.m) < maxLimiters {
		return
	}
	for k, st := range t.m {
		if now.Sub(st.last) >= failureWindow && !now.Before(st.until) {
			delete(t.m, k)
		}
	}
	for k := range t.m {
		if len(t.m) < maxLimiters {
			break
		}
		delete(t.m, k)
	}
}
