// Package fdtable grows a process's table of file descriptors ahead of
// need. On Linux the table of a process with more than one thread grows
// by doubling, and each growth waits for an RCU grace period
// (expand_fdtable's synchronize_rcu), during which every thread that
// opens a descriptor past the old size waits too: 10 to 15 ms each on the
// VMs Bulwark is measured on, more under load. A thousand tasks starting
// at once open a thousand sockets: the agents of bench agents stalled
// 13 ms in their start on one growth, and its fake model server twice on
// the way to a thousand connections (BENCHMARKS.md, "the start of a
// thousand tasks ... (session 35, first)"). Growing the table once at the
// start, off the hot path, leaves nothing to grow then.
package fdtable

// Reserve grows the table of file descriptors to hold at least n (at most
// the soft RLIMIT_NOFILE), so that opening that many later does not grow
// it: it opens a descriptor numbered n-1 and closes it. The table is never
// made smaller; it costs the kernel 8 bytes a slot (32 KiB for 4,096), and
// a fork copies only the slots up to the highest one open. The call waits
// for the growth's grace period: run it early, or in a goroutine of its
// own. It does nothing off Linux, where it reports no error.
func Reserve(n int) error { return reserve(n) }
