package sandbox

import (
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A spare init is an init started ahead, through the zygote, for the next
// sandbox: its uid slot leased, its control socket made, its Go runtime
// started, and then waiting for its configuration, its first read. The
// sandbox that takes it skips the init's start, about 4 ms of a cold Run
// (BENCHMARKS.md, session 30). Only an init that owes nothing to its Spec
// can be forked ahead: that of a root host on cgroup v1, where the init
// joins its groups once it has its configuration. A v2 group is entered
// at the clone, and a host that is not root maps its ids after the start
// by the Spec's rules, so those start their inits as before.
//
// A process keeps at most one spare, made when a sandbox that could have
// used one ends (not when it starts: the spare's runtime start would take
// a CPU from the sandbox it replaces), only while its zygote runs (a
// one-shot process, the CLI's sandbox exec, never makes one) and only
// while sandboxes begin less than spareMaxAge apart. A spare
// serves one sandbox: taken under spares.mu, it is that sandbox's box from
// then on, and goes wherever the sandbox goes (a failed configuration
// ends it with the sandbox). A spare whose init has ended, whose zygote
// has ended, older than spareMaxAge, or forked before a mount of this
// process's namespace changed is ended and its slot freed; so is the
// spare when the last open Pool closes (endSpare), and a sandbox that
// ran no command (a closed Pool's, discard) asks for none.
type spareInit struct {
	b    *box // pid, pidfd, ctrl, slot, held and done set: nothing else
	gen  *zygoteGen
	made time.Time
	// mounts is /proc/self/mountinfo, opened before the fork: a poll
	// of it says whether a mount of this process's namespace changed
	// since (as mountsChanged). The init's mount namespace is a copy
	// of this one as it was at the fork, and the init binds from it
	// what this process resolved and checked in its own (the allowed
	// programs, every source of a root it builds itself): a spare
	// forked before a mount that did not propagate to it would run
	// what was there before.
	mounts int
	// gone is closed when the spare leaves spares.ready: its keeper
	// then stops.
	gone chan struct{}
}

// spareMaxAge bounds how long a spare waits: the init itself waits for
// its configuration without a timeout (initMain's first read), so the
// host ends it, and an idle process holds no init and no uid slot for
// longer than that.
const spareMaxAge = 30 * time.Second

// sparesOff turns spare inits off (tests compare both ways).
var sparesOff = false

// spareKeeper holds this process's spare init.
type spareKeeper struct {
	mu      sync.Mutex
	ready   *spareInit
	filling bool
	busy    int // fills and ends under way (drop waits for them)
	// moved counts the spares in a row found stale because a mount
	// changed; at maxMoved, no spare is made until quietUntil: on a
	// host whose mounts change all the time (a busy container node)
	// every spare would be forked for nothing, a CPU taken from the
	// sandboxes for each.
	moved      int
	quietUntil time.Time
	// lastTake is when a sandbox that could take a spare last began, and
	// often whether it began within spareMaxAge of the one before: a
	// spare is made only for sandboxes that come that often, since one
	// made for a sandbox that comes later is ended unused (a server that
	// runs a sandbox a minute would fork one for nothing each time).
	lastTake time.Time
	often    bool
}

// maxMoved is how many spares in a row may be found stale because of a
// mount before spares stop for spareMaxAge. A variable only for a test
// that moves mounts on purpose, which sets it under spares.mu.
var maxMoved = 3

var spares = &spareKeeper{}

// spareFits says whether a sandbox of spec may take a spare init: a root
// host with no v2 controller, the zygote's inits (a spare is one), and
// spec not asking for a fresh init. The last is asked of the init's path
// (initZygoted) only when a spare is there to take or to ask for: it
// checks the embedded init the first time, which a process's first
// sandbox does later, as it starts its init.
func spareFits(spec Spec, rl *rootlessHost, ctrls []CgroupController) bool {
	return !sparesOff && !zygoteOff && !spec.FreshInit && rl == nil &&
		!slices.ContainsFunc(ctrls, func(c CgroupController) bool { return c.Version == 2 })
}

// initZygoted says whether inits are the standalone one, which the zygote
// forks: the rest of spareFits.
func initZygoted() bool { return initPath() != selfExe }

// take returns the spare's box, now the caller's, or nil when there is
// no spare fit to use (one that is not is ended in the background).
func (k *spareKeeper) take() *box {
	k.mu.Lock()
	s := k.ready
	// A spare was forked by the zygote, which needed the init's path:
	// initZygoted costs nothing here.
	if s != nil && !initZygoted() {
		s = nil // left as it is, as when spareFits said no
	}
	if s != nil {
		k.ready = nil
	}
	now := time.Now()
	k.often = !k.lastTake.IsZero() && now.Sub(k.lastTake) < spareMaxAge
	k.lastTake = now
	k.mu.Unlock()
	if s == nil {
		return nil
	}
	fresh, moved := s.fresh()
	s.left()
	k.mu.Lock()
	if moved {
		if k.moved++; k.moved >= maxMoved {
			k.moved, k.quietUntil = 0, time.Now().Add(spareMaxAge)
		}
	} else if fresh {
		k.moved = 0
	}
	k.mu.Unlock()
	if !fresh {
		k.end(s)
		return nil
	}
	return s.b
}

// left says s has left spares.ready, once, by whoever took it from there:
// its keeper stops, and its mount watch is closed.
func (s *spareInit) left() {
	close(s.gone)
	unix.Close(s.mounts)
}

// fresh says whether the spare may still serve: its init runs (its pidfd
// is not readable, which it becomes when the init ends, whether or not it
// is reaped yet), its zygote runs, it is younger than spareMaxAge and no
// mount of this process's namespace changed since its fork. moved says
// a mount changed (a poll of mountinfo reports a change once: it is
// asked here alone).
func (s *spareInit) fresh() (ok, moved bool) {
	fds := []unix.PollFd{{Fd: int32(s.b.pidfd), Events: unix.POLLIN}, {Fd: int32(s.mounts), Events: unix.POLLPRI}}
	n, err := unix.Poll(fds, 0)
	moved = err != nil || fds[1].Revents != 0
	select {
	case <-s.b.done:
		return false, moved
	case <-s.gen.ended:
		return false, moved
	default:
	}
	return err == nil && n == 0 && time.Since(s.made) <= spareMaxAge, moved
}

// want asks for a spare in the background, unless there is one or one is
// on the way, no zygote runs, sandboxes do not come often, or spares are
// quiet after mounts moved.
func (k *spareKeeper) want() {
	if sparesOff || !zyg.running() {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ready != nil || k.filling || !k.often || time.Now().Before(k.quietUntil) {
		return
	}
	k.filling = true
	k.busy++
	go k.fill()
}

func (k *spareKeeper) fill() {
	s := newSpare()
	k.mu.Lock()
	k.filling = false
	k.busy--
	if s != nil {
		k.ready = s
	}
	k.mu.Unlock()
	if s != nil {
		go k.keep(s)
	}
}

// newSpare starts a spare init through the zygote, or returns nil (and
// leaves nothing) when it cannot: the next sandbox starts its own.
func newSpare() *spareInit {
	// Before the fork: a mount changed after it is seen (fresh).
	mounts, err := unix.Open("/proc/self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	slot, err := uids.Alloc()
	if err != nil {
		unix.Close(mounts)
		return nil
	}
	b := &box{ctrl: -1, pidfd: -1, slot: slot, done: make(chan struct{})}
	child, err := b.newCtrl()
	if err != nil {
		unix.Close(mounts)
		b.freeSlot()
		return nil
	}
	cmdUID := uint32(uidBase + 2*slot)
	pid, pidfd, g, err := zyg.spawn(cmdUID+1, cmdUID, int(child.Fd()), -1)
	child.Close()
	if err != nil {
		// An init the zygote may have forked before its answer was lost
		// ends at its first read, as b.ctrl closes (see startInit).
		unix.Close(mounts)
		b.cleanup()
		return nil
	}
	b.adoptZygoted(pid, pidfd, g)
	return &spareInit{b: b, gen: g, made: time.Now(), mounts: mounts, gone: make(chan struct{})}
}

// keep ends the ready spare s once its init or its zygote has ended, or
// once it is spareMaxAge old, unless it was taken first.
func (k *spareKeeper) keep(s *spareInit) {
	t := time.NewTimer(spareMaxAge)
	defer t.Stop()
	select {
	case <-s.gone:
		return
	case <-s.b.done:
	case <-s.gen.ended:
	case <-t.C:
	}
	k.mu.Lock()
	mine := k.ready == s
	if mine {
		k.ready = nil
		s.left()
	}
	k.mu.Unlock()
	if mine {
		k.end(s)
	}
}

// end kills a spare that left spares.ready unused, reaps it and frees its
// slot (cleanup), in the background.
func (k *spareKeeper) end(s *spareInit) {
	k.mu.Lock()
	k.busy++
	k.mu.Unlock()
	go func() {
		s.b.cleanup()
		k.mu.Lock()
		k.busy--
		k.mu.Unlock()
	}()
}

// drop ends the ready spare, once any spare on the way is made, and
// returns when every spare but those taken is ended: what a test that
// counts processes, descriptors or slots calls first.
func (k *spareKeeper) drop() {
	k.settle()
	k.mu.Lock()
	s := k.ready
	k.ready = nil
	k.mu.Unlock()
	if s != nil {
		s.left()
		s.b.cleanup()
	}
	k.settle()
}

// endSpare ends this process's spare init, and any on the way, and
// returns once they are ended: what the last open Pool's Close does.
func endSpare() { spares.drop() }

// settle returns once no spare is being made or ended.
func (k *spareKeeper) settle() {
	for {
		k.mu.Lock()
		n := k.busy
		k.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
