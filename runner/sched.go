package runner

import (
	"context"
	"slices"
	"sync"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/metrics"
)

// sched runs jobs on at most workers goroutines, and at most quota(tenant)
// of one tenant's at once. A job over a quota waits in its tenant's queue,
// in order, rather than failing; a tenant at its quota does not hold up
// the others.
//
// Workers are shared fairly: when one frees, it goes to the tenant with
// queued work (under its quota) that has the fewest jobs running, the one
// served least recently on a tie. So a tenant that floods the queue holds
// at most its share (workers / tenants with work, at least 1) once others
// wait: a worker never goes to a tenant at or over its share while another
// tenant with fewer running waits. Running jobs are not preempted: a
// tenant that took every idle worker keeps them until they end, but a
// job waiting for a person (an approval, an answer) gives its worker up
// meanwhile (park, resume): tasks that wait forever hold no worker.
//
// quota is called without the lock held, and may read the store; its
// answers are kept per tenant with queued work and refreshed at each
// submit and each job's end.
type sched struct {
	quota   func(bulwark.TenantID) int
	mu      sync.Mutex
	workers int
	running int
	tenants map[bulwark.TenantID]*tenantQueue // tenants with jobs running or queued
	starts  uint64                            // jobs started so far, for round-robin
	// resumers are parked jobs waiting for a worker again, in order:
	// they are served before queued jobs start.
	resumers []chan struct{}
	closed   bool
	wg       sync.WaitGroup
}

// tenantQueue is the state of one tenant with work.
type tenantQueue struct {
	quota     int // the last answer of sched.quota, at least 1
	running   int
	queue     []*job
	lastStart uint64 // sched.starts when one of its jobs last started
}

// job is one queued unit of work.
type job struct {
	tenant bulwark.TenantID
	id     string
	run    func()
	first  bool // it ran before (continued after a wait): ahead of its tenant's queue
}

func newSched(workers int, quota func(bulwark.TenantID) int) *sched {
	return &sched{workers: max(workers, 1), quota: quota, tenants: map[bulwark.TenantID]*tenantQueue{}}
}

// submit queues j and starts what can start.
func (s *sched) submit(j *job) bool {
	q := max(s.quota(j.tenant), 1) // before the lock: it may read the store
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	tq := s.tenants[j.tenant]
	if tq == nil {
		tq = &tenantQueue{}
		s.tenants[j.tenant] = tq
	}
	tq.quota = q
	if tq.running+len(tq.queue) >= q {
		// The tenant's concurrency quota is used up: the job waits.
		metrics.Security.IncTenant(metrics.ResourceExhausted, string(j.tenant))
	}
	if j.first {
		tq.queue = slices.Insert(tq.queue, 0, j)
	} else {
		tq.queue = append(tq.queue, j)
	}
	s.dispatch()
	return true
}

// remove takes a job that has not started off the queue; false if it is
// not waiting (started already, or unknown).
func (s *sched) remove(tenant bulwark.TenantID, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	tq := s.tenants[tenant]
	if tq == nil {
		return false
	}
	for i, j := range tq.queue {
		if j.id == id {
			tq.queue = append(tq.queue[:i], tq.queue[i+1:]...)
			s.drop(tenant, tq)
			return true
		}
	}
	return false
}

// drop forgets a tenant that has no work left. s.mu is held.
func (s *sched) drop(tenant bulwark.TenantID, tq *tenantQueue) {
	if tq.running == 0 && len(tq.queue) == 0 {
		delete(s.tenants, tenant)
	}
}

// park gives up the worker of a running job of tenant that waits for a
// person (an approval): a worker is not held by a task that does
// nothing, so a tenant whose tasks all wait for approvals cannot starve
// the others. The job still counts against its tenant's quota and share.
// The job calls resume before it goes on.
func (s *sched) park() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running--
	s.dispatch()
}

// resume takes a worker again for a parked job, waiting for one to free
// (parked jobs go before queued ones). When ctx ends first the job goes
// on anyway, over the worker count for the moment, since it must wind
// down; the count is right again when it ends.
func (s *sched) resume(ctx context.Context) {
	s.mu.Lock()
	if s.running < s.workers && len(s.resumers) == 0 {
		s.running++
		s.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	s.resumers = append(s.resumers, ch)
	s.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		if i := slices.Index(s.resumers, ch); i >= 0 {
			s.resumers = slices.Delete(s.resumers, i, i+1)
			s.running++
		}
	}
}

// dispatch starts jobs while workers are free, each time of the tenant
// pick chooses, after the parked jobs waiting to resume. s.mu is held.
func (s *sched) dispatch() {
	for s.running < s.workers && len(s.resumers) > 0 {
		ch := s.resumers[0]
		s.resumers = s.resumers[1:]
		s.running++
		close(ch)
	}
	for s.running < s.workers {
		tq := s.pick()
		if tq == nil {
			return
		}
		j := tq.queue[0]
		tq.queue = tq.queue[1:]
		tq.running++
		s.running++
		s.starts++
		tq.lastStart = s.starts
		s.wg.Add(1)
		go s.do(j)
	}
}

// pick returns the tenant whose job starts next: among those with queued
// jobs and under their quota, the one with the fewest running, and on a
// tie the one served least recently; nil when none may start. s.mu is
// held.
func (s *sched) pick() *tenantQueue {
	var best *tenantQueue
	for _, tq := range s.tenants {
		if len(tq.queue) == 0 || tq.running >= tq.quota {
			continue
		}
		if best == nil || tq.running < best.running ||
			tq.running == best.running && tq.lastStart < best.lastStart {
			best = tq
		}
	}
	return best
}

func (s *sched) do(j *job) {
	defer s.wg.Done()
	defer func() {
		s.refreshQuotas()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.running--
		if tq := s.tenants[j.tenant]; tq != nil {
			tq.running--
			s.drop(j.tenant, tq)
		}
		s.dispatch()
	}()
	j.run()
}

// refreshQuotas asks quota again for every tenant with queued jobs, out
// of the lock, so that a changed setting takes effect.
func (s *sched) refreshQuotas() {
	s.mu.Lock()
	var waiting []bulwark.TenantID
	for t, tq := range s.tenants {
		if len(tq.queue) > 0 {
			waiting = append(waiting, t)
		}
	}
	s.mu.Unlock()
	if len(waiting) == 0 {
		return
	}
	quotas := make([]int, len(waiting))
	for i, t := range waiting {
		quotas[i] = max(s.quota(t), 1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, t := range waiting {
		if tq := s.tenants[t]; tq != nil {
			tq.quota = quotas[i]
		}
	}
}

// position returns the place of (tenant, id) among the tenant's queued
// jobs, counting from 1 (0 when it is not waiting). It counts only the
// tenant's own jobs: other tenants' volume is none of its business.
func (s *sched) position(tenant bulwark.TenantID, id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tq := s.tenants[tenant]; tq != nil {
		for i, j := range tq.queue {
			if j.id == id {
				return i + 1
			}
		}
	}
	return 0
}

// close stops accepting jobs and returns the ones still waiting.
func (s *sched) close() []*job {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var q []*job
	for t, tq := range s.tenants {
		q = append(q, tq.queue...)
		tq.queue = nil
		s.drop(t, tq)
	}
	return q
}
