// Package heapahead maps in the heap of a long-running process as the Go
// runtime maps it, before the process first touches it: a few
// madvise(MADV_POPULATE_WRITE) calls a 4 MiB chunk instead of a page
// fault a page, in huge pages where the kernel has them (MADV_HUGEPAGE
// first: two a chunk instead of 1,024 pages). On the VMs Bulwark is measured on (PVM guests) a first-touch
// page fault costs about 10 us and populating a page under 1 us, and a
// process that grows its heap by 90 MiB (bulwark bench agents: a thousand
// agents' stacks and buffers) took 23,000 such faults, a tenth of its CPU
// (BENCHMARKS.md, "The heap mapped in ahead of the agents").
//
// The runtime maps its heap from a reservation that nothing may touch, in
// 4 MiB chunks aligned to 4 MiB (its pallocChunkBytes), each when the heap
// first grows into it, upwards from where it starts; sandbox's prefault
// maps in the start of it as a process starts, and Run the chunks the
// heap grows into after. Each chunk is mapped in once: pages the runtime
// gives back to the system later (its scavenger) are not taken again, so
// Run costs at most one populate a page of the heap's highest extent.
package heapahead

import (
	"context"
	"time"
)

// chunkSize is the granule of the runtime's heap mappings, as in prefault.
const chunkSize = 4 << 20

// How long Run waits between two looks for a newly mapped chunk: the
// shortest while the heap grows (a chunk mapped in after the process
// touched most of it saves little), doubling to busyWait while it does
// not, and idleWait once it has not grown for idleAfter. A look costs a
// system call that fails at once, a few microseconds; the bench's heap
// grows in bursts a few tens of milliseconds apart, and waits of up to
// 100 ms there left nearly half again as many faults as waits of up to
// 10 ms (BENCHMARKS.md).
const (
	minWait   = time.Millisecond
	busyWait  = 10 * time.Millisecond
	idleAfter = time.Second
	idleWait  = time.Second
)

// Run maps in each chunk of the heap as the runtime maps it, until ctx
// ends. It returns at once where it cannot work (an OS or architecture
// other than Linux on amd64 or arm64, a kernel without
// MADV_POPULATE_WRITE, which came in Linux 5.14) and ignores every other
// failure. A process that runs for long and grows its heap (bulwark serve,
// run, bench) runs it in a goroutine of its own.
func Run(ctx context.Context) {
	var a ahead
	if a.start() {
		a.follow(ctx)
	}
}

// follow maps in the chunks the heap grows into until ctx ends.
func (a *ahead) follow(ctx context.Context) {
	wait, idle := minWait, time.Duration(0)
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		switch {
		case a.populate() > 0:
			wait, idle = minWait, 0
		case idle < idleAfter:
			wait = min(2*wait, busyWait)
		default:
			wait = idleWait
		}
		idle += wait
		t.Reset(wait)
	}
}
