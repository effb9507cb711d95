package runner

import (
	"sync"

	"github.com/bulwark-agents/bulwark"
)

// sched runs jobs on at most workers goroutines, and at most quota(tenant)
// of one tenant's at once. A job over a quota waits in the queue, in order,
// rather than failing; a tenant at its quota does not hold up the others.
type sched struct {
	mu        sync.Mutex
	workers   int
	quota     func(bulwark.TenantID) int
	running   int
	perTenant map[bulwark.TenantID]int
	queue     []*job
	closed    bool
	wg        sync.WaitGroup
}

// job is one queued unit of work.
type job struct {
	tenant bulwark.TenantID
	id     string
	run    func()
}

func newSched(workers int, quota func(bulwark.TenantID) int) *sched {
	return &sched{workers: max(workers, 1), quota: quota, perTenant: map[bulwark.TenantID]int{}}
}

// submit queues j and starts what can start.
func (s *sched) submit(j *job) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.queue = append(s.queue, j)
	s.dispatch()
	return true
}

// remove takes a job that has not started off the queue; false if it is
// not waiting (started already, or unknown).
func (s *sched) remove(tenant bulwark.TenantID, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, j := range s.queue {
		if j.tenant == tenant && j.id == id {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			return true
		}
	}
	return false
}

// dispatch starts the first queued jobs whose tenants are under quota,
// while workers are free. s.mu is held.
func (s *sched) dispatch() {
	for i := 0; i < len(s.queue) && s.running < s.workers; {
		j := s.queue[i]
		if s.perTenant[j.tenant] >= max(s.quota(j.tenant), 1) {
			i++
			continue
		}
		s.queue = append(s.queue[:i], s.queue[i+1:]...)
		s.running++
		s.perTenant[j.tenant]++
		s.wg.Add(1)
		go s.do(j)
	}
}

func (s *sched) do(j *job) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		s.running--
		if s.perTenant[j.tenant]--; s.perTenant[j.tenant] == 0 {
			delete(s.perTenant, j.tenant)
		}
		s.dispatch()
		s.mu.Unlock()
	}()
	j.run()
}

// waiting reports how many jobs wait, and the queue position of (tenant, id)
// counting from 1 (0 when it is not waiting).
func (s *sched) position(tenant bulwark.TenantID, id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, j := range s.queue {
		if j.tenant == tenant && j.id == id {
			return i + 1
		}
	}
	return 0
}

// close stops accepting jobs and returns the ones still waiting.
func (s *sched) close() []*job {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	q := s.queue
	s.queue = nil
	return q
}
