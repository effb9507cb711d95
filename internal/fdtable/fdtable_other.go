//go:build !linux

package fdtable

func reserve(int) error { return nil }
