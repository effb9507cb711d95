// Package noheapprofile turns off the runtime's sampling of allocations
// for the heap profile as the process starts. The runtime samples one
// allocation in every 512 KiB by default wherever runtime/pprof is linked
// (bulwark links it for the benches' profiles), each sample a walk of the
// allocating stack through the binary's tables and a bucket in a hash
// table of 1.4 MiB: page faults and CPU at every start (`bulwark version`
// included), for a profile that no command reads unless it asks for one
// (`bench agents --memprofile` sets its own rate).
//
// Its init does the work, so bulwark imports it for that side effect. It
// imports only the runtime, so its init is ready as soon as the
// runtime's, and the inits run in the order of their import paths among
// those ready: it runs before the packages whose inits allocate the most.
package noheapprofile

import "runtime"

func init() { runtime.MemProfileRate = 0 }
