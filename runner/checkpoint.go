package runner

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/workspace"
)

// Checkpoints and resuming after a restart
//
// With Config.Checkpoints set, a run commits a checkpoint (see
// bulwark.CheckpointStore) when it starts and with every completed step:
// the budgets spent, the taint, and its workspace folder, whose files are
// stored as blobs by content, so each step stores only what changed. A
// run that resumes a turn a restart cut off (agent.Interrupted) first
// puts the folder back as the latest checkpoint has it: files added
// since are removed, changed ones rewritten, missing ones written back.
// Files over the size cap are neither checkpointed nor touched.

// tempPrefix is the prefix of workspace.WriteFile's temporary files.
const tempPrefix = ".bulwark-tmp-"

// racyWindow: a file whose modification time is this close to the
// snapshot that hashed it is hashed again next time, since a write in
// the same clock tick leaves size and time as they were.
const racyWindow = 2 * time.Second

// stamp is what a snapshot knew of a file, to skip reading it again when
// it has not changed.
type stamp struct {
	size   int64
	mod    time.Time
	mode   fs.FileMode
	sum    string
	hashed time.Time
}

// checkpointer commits the checkpoints of one run of a task.
type checkpointer struct {
	store  bulwark.CheckpointStore
	tenant bulwark.TenantID
	taskID string
	dir    string
	max    int64
	mu     sync.Mutex // one commit at a time: the agent's steps, uploads
	last   bulwark.Checkpoint
	stored map[string]bool  // blobs the store holds for the task
	seen   map[string]stamp // by path
}

// commit snapshots the folder into c and commits it.
func (k *checkpointer) commit(ctx context.Context, c bulwark.Checkpoint) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.put(ctx, c); err != nil {
		return err
	}
	k.last = c
	return nil
}

// refresh commits the last checkpoint again with the folder as it is now:
// a file a person uploaded while the task runs is kept by a resume.
func (k *checkpointer) refresh(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.last.Seq == 0 {
		return nil
	}
	return k.put(ctx, k.last)
}

func (rt *Runtime) newCheckpointer(t bulwark.Task, dir string) *checkpointer {
	max := rt.cfg.MaxFileSize
	if max <= 0 {
		max = workspace.DefaultMaxFileSize
	}
	return &checkpointer{store: rt.cfg.Checkpoints, tenant: bulwark.TenantID(t.TenantID), taskID: t.ID, dir: dir, max: max,
		stored: map[string]bool{}, seen: map[string]stamp{}}
}

// put snapshots the workspace folder into c and commits it: the blobs
// the store lacks first, then the checkpoint.
func (k *checkpointer) put(ctx context.Context, c bulwark.Checkpoint) error {
	root, err := os.OpenRoot(k.dir)
	if err != nil {
		return err
	}
	defer root.Close()
	now := time.Now()
	var fresh [][]byte
	present, freshSums := map[string]bool{}, map[string]bool{}
	c.TaskID, c.Files, c.Sealed = k.taskID, nil, false // a run's own checkpoint is of its folder, not sealed
	err = fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if !d.Type().IsRegular() || strings.HasPrefix(path.Base(name), tempPrefix) {
			return nil
		}
		info, err := root.Lstat(name)
		if err != nil || !info.Mode().IsRegular() || info.Size() > k.max {
			return nil
		}
		s, ok := k.seen[name]
		if !ok || s.size != info.Size() || !s.mod.Equal(info.ModTime()) || s.mode != info.Mode() || !info.ModTime().Before(s.hashed.Add(-racyWindow)) {
			data, err := root.ReadFile(name)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			s = stamp{size: int64(len(data)), mod: info.ModTime(), mode: info.Mode(), sum: bulwark.BlobID(data), hashed: now}
			k.seen[name] = s
			if !k.stored[s.sum] && !freshSums[s.sum] {
				fresh = append(fresh, data)
				freshSums[s.sum] = true
			}
		}
		c.Files = append(c.Files, bulwark.CheckpointFile{Path: name, Mode: info.Mode().Perm(), Size: s.size, SHA256: s.sum})
		present[name] = true
		return nil
	})
	if err != nil {
		return err
	}
	for p := range k.seen {
		if !present[p] {
			delete(k.seen, p)
		}
	}
	if len(fresh) > 0 {
		if err := k.store.PutBlobs(ctx, k.tenant, k.taskID, fresh); err != nil {
			return err
		}
	}
	// The store keeps only the blobs of the checkpoint it holds.
	k.stored = map[string]bool{}
	if err := k.store.PutCheckpoint(ctx, k.tenant, c); err != nil {
		return err
	}
	for _, f := range c.Files {
		k.stored[f.SHA256] = true
	}
	return nil
}

// restore puts the workspace folder back as checkpoint c has it, but for
// the files of keep that c does not hold (uploaded while the task was
// queued to resume), and remembers its blobs as stored.
func (k *checkpointer) restore(ctx context.Context, c bulwark.Checkpoint, keep map[string]bool) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.last = c
	root, err := os.OpenRoot(k.dir)
	if err != nil {
		return err
	}
	defer root.Close()
	want := map[string]bulwark.CheckpointFile{}
	for _, f := range c.Files {
		want[f.Path] = f
		k.stored[f.SHA256] = true
	}
	// What the checkpoint does not hold goes, but for files over the cap,
	// which no checkpoint holds.
	var extra []string
	err = fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name == "." || d.IsDir() {
			return nil
		}
		if _, ok := want[name]; ok && d.Type().IsRegular() {
			return nil
		}
		if _, ok := want[name]; !ok && keep[name] && d.Type().IsRegular() {
			return nil
		}
		if info, err := d.Info(); err == nil && info.Mode().IsRegular() && info.Size() > k.max {
			return nil
		}
		extra = append(extra, name)
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range extra {
		if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	for _, f := range c.Files {
		info, err := root.Lstat(f.Path)
		if err == nil && info.IsDir() {
			if err := root.RemoveAll(f.Path); err != nil {
				return err
			}
			err = fs.ErrNotExist
		}
		if err == nil && info.Size() == f.Size {
			if data, rerr := root.ReadFile(f.Path); rerr == nil && bulwark.BlobID(data) == f.SHA256 {
				if info.Mode().Perm() != f.Mode {
					if err := root.Chmod(f.Path, f.Mode); err != nil {
						return err
					}
				}
				continue
			}
		}
		data, err := k.store.Blob(ctx, k.tenant, k.taskID, f.SHA256)
		if err != nil {
			return err
		}
		if err := writeAtomic(root, f.Path, data, f.Mode); err != nil {
			return err
		}
	}
	return nil
}

// writeAtomic writes data to name in root with mode, through a temporary
// file renamed into place.
func writeAtomic(root *os.Root, name string, data []byte, mode fs.FileMode) error {
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	tmp := path.Join(path.Dir(name), tempPrefix+bulwark.NewID("r"))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		root.Remove(tmp)
	}
	return err
}

// checkpoints prepares the checkpoints of a run of l in folder dir whose
// earlier events are history: a run that resumes an interrupted turn
// gets its folder back as the latest checkpoint has it, and that
// checkpoint to resume from (nil when there is none); any other run
// commits a first checkpoint, at the seq after history's, before it
// starts. hook is the agent's Config.Checkpoint; a checkpoint that
// cannot be committed stops the task through fail. Until done is called
// (when the run is over), a file uploaded into the folder is committed
// with the last checkpoint. Without a checkpoint store all are nil.
func (rt *Runtime) checkpoints(ctx context.Context, l *live, dir string, history []bulwark.Event,
	fail func(error)) (resume *bulwark.Checkpoint, hook func(bulwark.Checkpoint), done func(), err error) {
	if rt.cfg.Checkpoints == nil {
		return nil, nil, func() {}, nil
	}
	t := l.task
	k := rt.newCheckpointer(t, dir)
	tenant := bulwark.TenantID(t.TenantID)
	latest, err := rt.cfg.Checkpoints.LatestCheckpoint(ctx, tenant, t.ID)
	switch {
	case err == nil:
	case bulwark.ErrorKind(err) == bulwark.NotFound:
		latest, err = bulwark.Checkpoint{}, nil
	default:
		return nil, nil, nil, setupError("runner.resume", "the task's last checkpoint could not be read", err)
	}
	l.files.Lock() // no upload meanwhile; it is committed with the first checkpoint
	if agent.Interrupted(history) && latest.Seq > 0 {
		if err = k.restore(ctx, latest, l.uploads); err != nil {
			err = setupError("runner.resume", "the task's workspace could not be put back as its last step left it", err)
		} else if latest.Sealed {
			// Its files leave the artifact store once the set-up is done
			// (unstore): from then on the checkpoint holds them alone.
			latest.Sealed = false
			if err = rt.cfg.Checkpoints.PutCheckpoint(ctx, tenant, latest); err != nil {
				err = setupError("runner.resume", "the task's last checkpoint could not be stored", err)
			}
		}
		resume = &latest
	} else {
		var next int64 = 1
		step := 0
		if n := len(history); n > 0 {
			next, step = history[n-1].Seq+1, history[n-1].Step
		}
		if err = k.commit(ctx, bulwark.Checkpoint{Seq: next, Step: step, Taint: latest.Taint}); err != nil {
			err = bulwark.E(bulwark.Unavailable, "runner.checkpoint", "the task's first checkpoint could not be stored", err)
		}
	}
	if err == nil {
		l.refresh = k.refresh
		l.setMark(k.markWaiting)
	}
	l.files.Unlock()
	if err != nil {
		return nil, nil, nil, err
	}
	hook = func(c bulwark.Checkpoint) {
		// Under the file lock, as refresh: an upload writes a new file in
		// place (workspace.WriteFile), and a checkpoint taken halfway
		// would hold a prefix of it, which a resume would put back.
		l.files.Lock()
		err := k.commit(context.WithoutCancel(ctx), c)
		l.files.Unlock()
		if err != nil {
			slog.Error("task checkpoint not stored; stopping the task", "task", t.ID, "err", err)
			fail(err)
		}
	}
	done = func() {
		l.files.Lock()
		l.refresh = nil
		l.setMark(nil)
		l.files.Unlock()
	}
	return resume, hook, done, nil
}

// dropCheckpoint removes the checkpoint of task t, whose turn has ended:
// a new turn starts from its files as they are.
func (rt *Runtime) dropCheckpoint(ctx context.Context, t bulwark.Task) {
	if rt.cfg.Checkpoints == nil {
		return
	}
	if err := rt.cfg.Checkpoints.DeleteCheckpoint(ctx, bulwark.TenantID(t.TenantID), t.ID); err != nil {
		slog.Warn("the checkpoint of an ended task was not deleted", "task", t.ID, "err", err)
	}
}

// settleCheckpoint drops the checkpoint of task t, whose turn ended
// before a run took it up (canceled while queued, or interrupted), as a
// run drops it at its end once its files are sealed. The files the
// artifact store lacks are stored there first, and while they cannot
// be, the checkpoint stays: those of a run whose node stopped without
// sealing its folder, which only the checkpoint holds. A run that a
// stop cut off and that sealed its folder marked the checkpoint
// (Checkpoint.Sealed): the store holds the files it left, and a file
// only the checkpoint holds was removed after it; brought back, the
// task would end with a file it had removed.
func (rt *Runtime) settleCheckpoint(ctx context.Context, t bulwark.Task) {
	if rt.cfg.Checkpoints == nil {
		return
	}
	if err := rt.keepCheckpointFiles(ctx, t); err != nil {
		slog.Warn("the files of a canceled task's checkpoint could not be stored; the checkpoint stays", "task", t.ID, "err", err)
		return
	}
	rt.dropCheckpoint(ctx, t)
}

// keepCheckpointFiles stores the files of task t's checkpoint that the
// artifact store does not hold.
func (rt *Runtime) keepCheckpointFiles(ctx context.Context, t bulwark.Task) error {
	if rt.cfg.Artifacts == nil {
		return nil
	}
	tenant := bulwark.TenantID(t.TenantID)
	c, err := rt.cfg.Checkpoints.LatestCheckpoint(ctx, tenant, t.ID)
	if bulwark.ErrorKind(err) == bulwark.NotFound || c.Sealed {
		return nil
	}
	if err != nil {
		return err
	}
	stored, err := rt.cfg.Artifacts.Artifacts(ctx, tenant, t.ID)
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(stored))
	for _, a := range stored {
		have[a.Path] = true
	}
	for _, f := range c.Files {
		if have[f.Path] {
			continue
		}
		data, err := rt.cfg.Checkpoints.Blob(ctx, tenant, t.ID, f.SHA256)
		if err != nil {
			return err
		}
		if _, err := rt.cfg.Artifacts.PutArtifact(ctx, tenant, bulwark.Artifact{TaskID: t.ID, Path: f.Path}, data); err != nil {
			return err
		}
	}
	return nil
}

// markSealed marks the last checkpoint of l's task Sealed once the run
// that a stop cut off, after it began, has sealed its folder into the
// artifact store (seal): the store holds the files as the run left them.
// A run cut off as it set up may have put back only part of the files
// the checkpoint holds, and leaves it unmarked.
func (rt *Runtime) markSealed(l *live) {
	l.files.Lock()
	sealed := l.sealed
	l.files.Unlock()
	if !sealed {
		return
	}
	rt.markCheckpointSealed(context.Background(), l.task)
}

// markCheckpointSealed marks the last checkpoint of task t Sealed: its
// folder, newer than the checkpoint, is sealed into the artifact store.
func (rt *Runtime) markCheckpointSealed(ctx context.Context, t bulwark.Task) {
	if rt.cfg.Checkpoints == nil {
		return
	}
	tenant := bulwark.TenantID(t.TenantID)
	c, err := rt.cfg.Checkpoints.LatestCheckpoint(ctx, tenant, t.ID)
	if err == nil && !c.Sealed {
		c.Sealed = true
		err = rt.cfg.Checkpoints.PutCheckpoint(ctx, tenant, c)
	}
	if err != nil && bulwark.ErrorKind(err) != bulwark.NotFound {
		// Unmarked, a cancel stores the files only the checkpoint holds.
		slog.Warn("the checkpoint of a stopped task was not marked sealed", "task", t.ID, "err", err)
	}
}

// maxStalledRuns is how many runs of a task in a row may stop without
// committing a step before a start stops resuming it by itself: a task
// that brings its process down (or meets one that keeps failing) would
// otherwise be resumed at every start.
const maxStalledRuns = 3

// stalledRuns counts the runs at the end of events that stopped without
// committing anything but their start, notices, errors, MCP servers' log
// messages and compactions.
func stalledRuns(events []bulwark.Event) int {
	n, progress := 0, false
	for i := len(events) - 1; i >= 0; i-- {
		switch events[i].Type {
		case bulwark.EventTaskStarted:
			if progress {
				return n
			}
			n++
		case bulwark.EventNotice, bulwark.EventError, bulwark.EventMCPLog, bulwark.EventCompacted:
		default:
			progress = true
		}
	}
	return n
}

// resumeAfterRestart queues again task t, which a process that stopped
// left running or waiting: its run resumes the turn from the last
// committed step. A task whose last runs all stopped without a step
// (maxStalledRuns) is marked interrupted instead, for a person.
func (rt *Runtime) resumeAfterRestart(ctx context.Context, t bulwark.Task) error {
	tenant := bulwark.TenantID(t.TenantID)
	events, err := rt.cfg.Store.Events(ctx, tenant, t.ID, 0, 0)
	if err != nil {
		return err
	}
	status := bulwark.TaskQueued
	if stalledRuns(events) >= maxStalledRuns {
		status = bulwark.TaskInterrupted
	}
	err = rt.cfg.Store.SetTaskStatus(ctx, tenant, t.ID, status)
	if bulwark.ErrorKind(err) == bulwark.Conflict {
		return nil // it ended meanwhile (a task of another process)
	}
	if err != nil {
		return err
	}
	if status == bulwark.TaskInterrupted {
		slog.Warn("a task stopped several times in a row without a step; it waits, interrupted, for a person to resume or cancel it", "task", t.ID)
		rt.auditf(tenant, "system", "task.interrupted", t.ID, audit.OutcomeError, map[string]string{"why": "its last runs stopped without a step"})
		return nil
	}
	// What was sent to it meanwhile, before its run can start: a cancel
	// made as it stopped ends it where it stopped, without a run.
	taken := rt.takeAll(ctx, t)
	if canceledAtStop(taken, t.Turns) {
		err := rt.cfg.Store.SetTaskStatus(ctx, tenant, t.ID, bulwark.TaskInterrupted)
		if err == nil {
			t.Status = bulwark.TaskInterrupted
			err = rt.endStopped(ctx, tenant, "", t, taken)
		}
		if err != nil {
			// It stays interrupted, its cancel stored: a resume carries it out.
			slog.Error("a task canceled as it stopped could not be ended canceled", "task", t.ID, "err", err)
		}
		return nil
	}
	t.Status = bulwark.TaskQueued
	l := newLive(t)
	if asked := pendingQuestion(events); asked > 0 {
		// It waited for an answer: one sent before its run asks again
		// (as the run sets up) is the answer, not a message for later.
		l.reopenQuestion(asked)
	}
	if rt.cfg.Artifacts != nil {
		// A shutdown sealed its files into the store; a crash left them
		// in its folder.
		_, err := os.Lstat(rt.workspaceDir(tenant, t.ID))
		l.sealed = errors.Is(err, fs.ErrNotExist)
	}
	rt.auditf(tenant, "system", "task.resume", t.ID, audit.OutcomeOK, map[string]string{"why": "restart"})
	rt.add(l)
	for _, r := range taken {
		rt.carryOutLogged(ctx, r)
	}
	return rt.enqueueLive(ctx, l, "restart", false)
}
