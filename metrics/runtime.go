package metrics

import (
	"bytes"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// gatherer is a collector of several families, read at each scrape.
type gatherer struct {
	names []string // the families it may serve
	read  func(dst []family) []family
}

func (g *gatherer) describe() desc                { return desc{} }
func (g *gatherer) collect(dst []family) []family { return g.read(dst) }

// gauge returns a family of one unlabelled sample.
func gauge(name, help string, v float64) family {
	return family{name: name, help: help, typ: "gauge", series: []series{{value: v}}}
}

// counter returns a counter family of one unlabelled sample.
func counter(name, help string, v float64) family {
	return family{name: name, help: help, typ: "counter", series: []series{{value: v}}}
}

// memStats are the go_memstats_* families of the Prometheus Go collector
// (same names, help and types), read from runtime.MemStats.
var memStats = []struct {
	name, help string
	counter    bool
	value      func(*runtime.MemStats) uint64
}{
	{"go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", false, func(m *runtime.MemStats) uint64 { return m.Alloc }},
	{"go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", true, func(m *runtime.MemStats) uint64 { return m.TotalAlloc }},
	{"go_memstats_sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", false, func(m *runtime.MemStats) uint64 { return m.Sys }},
	{"go_memstats_mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", true, func(m *runtime.MemStats) uint64 { return m.Mallocs }},
	{"go_memstats_frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", true, func(m *runtime.MemStats) uint64 { return m.Frees }},
	{"go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", false, func(m *runtime.MemStats) uint64 { return m.HeapAlloc }},
	{"go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", false, func(m *runtime.MemStats) uint64 { return m.HeapSys }},
	{"go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", false, func(m *runtime.MemStats) uint64 { return m.HeapIdle }},
	{"go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", false, func(m *runtime.MemStats) uint64 { return m.HeapInuse }},
	{"go_memstats_heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", false, func(m *runtime.MemStats) uint64 { return m.HeapReleased }},
	{"go_memstats_heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", false, func(m *runtime.MemStats) uint64 { return m.HeapObjects }},
	{"go_memstats_stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", false, func(m *runtime.MemStats) uint64 { return m.StackInuse }},
	{"go_memstats_stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", false, func(m *runtime.MemStats) uint64 { return m.StackSys }},
	{"go_memstats_mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", false, func(m *runtime.MemStats) uint64 { return m.MSpanInuse }},
	{"go_memstats_mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", false, func(m *runtime.MemStats) uint64 { return m.MSpanSys }},
	{"go_memstats_mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", false, func(m *runtime.MemStats) uint64 { return m.MCacheInuse }},
	{"go_memstats_mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", false, func(m *runtime.MemStats) uint64 { return m.MCacheSys }},
	{"go_memstats_buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", false, func(m *runtime.MemStats) uint64 { return m.BuckHashSys }},
	{"go_memstats_gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", false, func(m *runtime.MemStats) uint64 { return m.GCSys }},
	{"go_memstats_other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", false, func(m *runtime.MemStats) uint64 { return m.OtherSys }},
	{"go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", false, func(m *runtime.MemStats) uint64 { return m.NextGC }},
}

// newGoCollector returns the collector of the Go runtime's families, by
// the names and help texts of the Prometheus client's Go collector:
// goroutines, threads, GC pauses, memory statistics, GOGC, GOMEMLIMIT,
// GOMAXPROCS and the Go version.
func newGoCollector() *gatherer {
	names := []string{"go_goroutines", "go_threads", "go_gc_duration_seconds", "go_memstats_last_gc_time_seconds",
		"go_info", "go_gc_gogc_percent", "go_gc_gomemlimit_bytes", "go_sched_gomaxprocs_threads"}
	for _, m := range memStats {
		names = append(names, m.name)
	}
	return &gatherer{names: names, read: readGo}
}

// readGo appends the Go runtime's families, read now.
func readGo(dst []family) []family {
	threads, _ := runtime.ThreadCreateProfile(nil)
	dst = append(dst,
		gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine())),
		gauge("go_threads", "Number of OS threads created.", float64(threads)))

	var gc debug.GCStats
	gc.PauseQuantiles = make([]time.Duration, 5) // min, 25%, 50%, 75%, max
	debug.ReadGCStats(&gc)
	pauses := family{name: "go_gc_duration_seconds", help: "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", typ: "summary"}
	for i, q := range gc.PauseQuantiles {
		pauses.series = append(pauses.series, series{names: []string{"quantile"},
			values: []string{formatFloat(float64(i) / float64(len(gc.PauseQuantiles)-1))}, value: q.Seconds()})
	}
	pauses.series = append(pauses.series,
		series{suffix: "_sum", value: gc.PauseTotal.Seconds()},
		series{suffix: "_count", value: float64(gc.NumGC)})
	dst = append(dst, pauses,
		gauge("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", float64(gc.LastGC.UnixNano())/1e9),
		family{name: "go_info", help: "Information about the Go environment.", typ: "gauge",
			series: []series{{names: []string{"version"}, values: []string{runtime.Version()}, value: 1}}},
		gauge("go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes.",
			float64(debug.SetMemoryLimit(-1))), // a negative limit reads it, changing nothing
		gauge("go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads.",
			float64(runtime.GOMAXPROCS(0))))
	if p, ok := gogcPercent(); ok {
		dst = append(dst, gauge("go_gc_gogc_percent", "Heap size target percentage configured by the user, otherwise 100. This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function. Sourced from /gc/gogc:percent.", p))
	}

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	for _, m := range memStats {
		if m.counter {
			dst = append(dst, counter(m.name, m.help, float64(m.value(&ms))))
		} else {
			dst = append(dst, gauge(m.name, m.help, float64(m.value(&ms))))
		}
	}
	return dst
}

// gogcPercent returns GOGC as the runtime read it at start: nothing in
// Bulwark calls debug.SetGCPercent, the only other way to change it
// (reading it through runtime/metrics would link that package, whose init
// is what this package avoids). "off" is -1 (unlike runtime/metrics'
// 0); a value the runtime would refuse is not served.
func gogcPercent() (float64, bool) {
	s, ok := os.LookupEnv("GOGC")
	if !ok || s == "" {
		return 100, true
	}
	if s == "off" {
		return -1, true
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, false
	}
	return float64(n), true
}

// userHZ is the unit of the CPU times of /proc/self/stat: USER_HZ, 100 on
// every Linux architecture Go supports (the Prometheus client assumes it
// too).
const userHZ = 100

// processNames are the families processCollector serves.
var processNames = []string{"process_cpu_seconds_total", "process_virtual_memory_bytes", "process_resident_memory_bytes",
	"process_start_time_seconds", "process_open_fds", "process_max_fds", "process_virtual_memory_max_bytes",
	"process_network_receive_bytes_total", "process_network_transmit_bytes_total"}

// newProcessCollector returns the collector of the process families of
// the Prometheus client's process collector (same names and help), read
// from /proc/self at each scrape. A family whose file cannot be read or
// parsed is left out of that scrape, and counted in
// promhttp_metric_handler_errors_total{cause="gathering"}.
func newProcessCollector() *gatherer {
	return &gatherer{names: processNames, read: readProcess}
}

// readProcess appends the process families, read now from /proc/self.
func readProcess(dst []family) []family {
	st, err := readStat()
	if err == nil {
		dst = append(dst,
			counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", float64(st.utime+st.stime)/userHZ),
			gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", float64(st.vsize)),
			gauge("process_resident_memory_bytes", "Resident memory size in bytes.", float64(st.rss*uint64(os.Getpagesize()))))
		if boot, err := bootTime(); err == nil {
			dst = append(dst, gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", float64(boot)+float64(st.starttime)/userHZ))
		} else {
			gatherFailed()
		}
	} else {
		gatherFailed()
	}
	if n, err := openFDs(); err == nil {
		dst = append(dst, gauge("process_open_fds", "Number of open file descriptors.", float64(n)))
	} else {
		gatherFailed()
	}
	b, err := os.ReadFile("/proc/self/limits")
	maxFDs, ok1 := limit(b, "Max open files")
	maxAS, ok2 := limit(b, "Max address space")
	if err == nil && ok1 && ok2 {
		dst = append(dst,
			gauge("process_max_fds", "Maximum number of open file descriptors.", maxFDs),
			gauge("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", maxAS))
	} else {
		gatherFailed()
	}
	b, err = os.ReadFile("/proc/self/net/netstat")
	in, ok1 := netstat(b, "IpExt", "InOctets")
	out, ok2 := netstat(b, "IpExt", "OutOctets")
	if err == nil && ok1 && ok2 {
		dst = append(dst,
			counter("process_network_receive_bytes_total", "Number of bytes received by the process over the network.", in),
			counter("process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.", out))
	} else {
		gatherFailed()
	}
	return dst
}

// openFDs counts the entries of /proc/self/fd (the descriptor reading it
// included, as the Prometheus client counts).
func openFDs() (int, error) {
	f, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	return len(names), err
}

// procStat is what the process families use of /proc/self/stat.
type procStat struct {
	utime, stime uint64 // CPU time, in clock ticks (userHZ)
	starttime    uint64 // clock ticks after boot
	vsize        uint64 // bytes
	rss          uint64 // pages
}

// readStat reads /proc/self/stat.
func readStat() (procStat, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// parseStat parses the content of /proc/<pid>/stat: the fields after the
// command, which is in parentheses and may hold spaces and parentheses.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errBadProc
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 of proc(5) (state): field n is f[n-3].
	if len(f) < 22 {
		return procStat{}, errBadProc
	}
	var st procStat
	for _, x := range []struct {
		field int
		dst   *uint64
	}{{14, &st.utime}, {15, &st.stime}, {22, &st.starttime}, {23, &st.vsize}, {24, &st.rss}} {
		n, err := strconv.ParseUint(f[x.field-3], 10, 64)
		if err != nil {
			return procStat{}, errBadProc
		}
		*x.dst = n
	}
	return st, nil
}

// bootTime is the btime line of /proc/stat (seconds since the epoch),
// read on the first scrape only: it does not change.
func bootTime() (uint64, error) {
	b := bootTimeOnce.Get()
	return b.secs, b.err
}

var bootTimeOnce = lazy.Value[struct {
	secs uint64
	err  error
}]{New: func() (b struct {
	secs uint64
	err  error
}) {
	b.secs, b.err = readBootTime()
	return b
}}

func readBootTime() (uint64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "btime "); ok {
			return strconv.ParseUint(strings.TrimSpace(rest), 10, 64)
		}
	}
	return 0, errBadProc
}

// limit returns the soft limit named name in the content of
// /proc/<pid>/limits; "unlimited" is 2^64, as the Prometheus client
// serves it.
func limit(b []byte, name string) (float64, bool) {
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, false
		}
		if f[0] == "unlimited" {
			return math.MaxUint64, true
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		return float64(n), err == nil
	}
	return 0, false
}

// netstat returns the field of a section of /proc/<pid>/net/netstat,
// where each section is a line of names and a line of values, both
// starting with "section:".
func netstat(b []byte, section, field string) (float64, bool) {
	var names []string
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != section+":" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == field && i < len(f) {
				v, err := strconv.ParseFloat(f[i], 64)
				return v, err == nil
			}
		}
		return 0, false
	}
	return 0, false
}

// errBadProc is the error of a /proc file not in the expected format.
var errBadProc = procError("metrics: unexpected format of a /proc file")

type procError string

func (e procError) Error() string { return string(e) }
