package main

import (
	"errors"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// The cluster's quota cache reads a tenant's quota again as soon as the
// store's version moves (a setting changed on any node), not only when
// its time is up; a version it cannot read reads the quota again (red
// team, session 42: a lowered quota held on the other nodes for 5 s).
func TestCachedQuotaFollowsTheVersion(t *testing.T) {
	quota, reads := 3, 0
	var v uint64 = 1
	var verr error
	q := cachedQuota(func(bulwark.TenantID) int { reads++; return quota }, time.Hour, func() (uint64, error) { return v, verr })
	const tn = bulwark.TenantID("tn_a")
	first := q(tn)
	second := q(tn)
	if first != 3 || second != 3 || reads != 1 {
		t.Fatalf("reads %d, want 1 while nothing changed", reads)
	}
	quota, v = 1, 2 // lowered on another node
	if got := q(tn); got != 1 || reads != 2 {
		t.Errorf("after the version moved: quota %d after %d reads, want 1 after 2", got, reads)
	}
	verr = errors.New("down")
	q(tn)
	if reads != 3 {
		t.Errorf("with the version unreadable: %d reads, want 3", reads)
	}
	plain := cachedQuota(func(bulwark.TenantID) int { reads++; return quota }, time.Hour, nil)
	plain(tn)
	plain(tn)
	if reads != 4 {
		t.Errorf("without a version: %d reads, want one more", reads)
	}
}
