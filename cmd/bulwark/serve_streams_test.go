package main

import (
	"testing"

	"github.com/bulwark-agents/bulwark/server"
)

func TestReadStreamLimits(t *testing.T) {
	t.Setenv("BULWARK_MAX_STREAMS", "50")
	t.Setenv("BULWARK_MAX_STREAMS_PER_CLIENT", "5")
	t.Setenv("BULWARK_MAX_STREAMS_PER_KEY", "2")
	t.Setenv("BULWARK_MAX_STREAMS_PER_TENANT", "20")
	got, err := readStreamLimits()
	if want := (server.StreamLimits{PerKey: 2, PerClient: 5, PerTenant: 20, Total: 50}); err != nil || got != want {
		t.Errorf("readStreamLimits = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"0", "-1", "many", "2000000"} {
		t.Setenv("BULWARK_MAX_STREAMS_PER_KEY", bad)
		if _, err := readStreamLimits(); err == nil {
			t.Errorf("BULWARK_MAX_STREAMS_PER_KEY=%s: no error", bad)
		}
	}
}

func TestLoadDeviceKey(t *testing.T) {
	p := t.TempDir() + "/device.key"
	k1, err := loadDeviceKey(p)
	if err != nil || len(k1) != 32 {
		t.Fatalf("loadDeviceKey (new) = %d bytes, %v", len(k1), err)
	}
	k2, err := loadDeviceKey(p)
	if err != nil || string(k1) != string(k2) {
		t.Errorf("loadDeviceKey (again) = %x, %v; want the same key %x", k2, err, k1)
	}
}
