package sandbox

import "github.com/bulwark-agents/bulwark/sandbox/internal/early"

// The host's sandbox uids (early/slots_linux.go): in package early so that
// an init started ahead of a cold CLI's sandbox (early_linux.go) leases
// its slot from the same allocator as every other sandbox of the process.
const (
	uidBase       = early.UIDBase
	uidSlots      = early.Slots
	slotsPerBlock = early.SlotsPerBlock
)

type uidAllocator = early.Allocator

// uids hands out this process's sandbox uids.
var uids = &early.Host
