package server

import (
	"time"

	"github.com/bulwark-agents/bulwark/limits"
)

// Failed logins slow down a key (an account, a client address, or a
// device cookie) as a limits.Policy says: the first free failures cost
// nothing; after each later one, the next attempt must wait base, 2*base,
// 4*base... up to maxDelay. Nothing is ever locked: a lock would let
// anyone shut a user out by failing on purpose, and the delay already
// makes guessing hopeless (at most one guess per maxDelay per account).
// Failures are forgotten limits.FailureWindow after the last one. The
// failures are counted by Config.Throttle: in memory for one node, in
// the database when several nodes share the load (package pglimits), so
// that an attacker gets no more guesses by spreading them over nodes.
//
// Accounts are counted by the email given, whether or not such a user
// exists, so that a delay says nothing about which accounts exist; and
// each user, with accountPolicy, by the checks of its password that
// failed: a user whose wait is not served is not checked (see login).
var (
	// accountPolicy: 0, 0, then 1s, 2s, 4s ... 30s between attempts on
	// one account from browsers without its device cookie.
	accountPolicy = limits.Policy{Free: 2, Base: time.Second, MaxDelay: 30 * time.Second}
	// addressPolicy: a client address (many people may share one) gets
	// more free failures, then the same curve.
	addressPolicy = limits.Policy{Free: 10, Base: time.Second, MaxDelay: 30 * time.Second}
	// devicePolicy: a browser holding a device cookie, failing itself.
	devicePolicy = limits.Policy{Free: 2, Base: time.Second, MaxDelay: 30 * time.Second}
)

const failureWindow = limits.FailureWindow
