package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/workspace"
)

// Where a task's files are
//
// While a task is queued or running in this process, its files are plain
// files in its workspace folder (Dir/TENANT/TASK): the agent's tools and
// the sandbox work on them there. When its run stops (it finished, was
// canceled, failed, or was interrupted by a shutdown), and Config.Artifacts
// is set, every regular file of the folder is sealed into the artifact
// store (with the tenant's data key, bound to tenant, task and path) and
// the folder is removed, so that nothing a task read or wrote stays in the
// clear in the data folder. Start does the same for folders a crashed
// process left behind. Files over MaxFileSize, links and special files are
// not kept. Without Config.Artifacts, files stay in the folders.

// Files lists the files of a task of tenant, sorted by path: those of its
// workspace while it is queued or running, else those kept in the store.
func (rt *Runtime) Files(ctx context.Context, tenant bulwark.TenantID, id string) ([]bulwark.Artifact, error) {
	var out []bulwark.Artifact
	err := rt.withFiles(ctx, tenant, id, func(ws *workspace.Workspace, l *live) error {
		return ws.Walk(".", func(name string, info fs.FileInfo) error {
			if info.Mode().IsRegular() {
				out = append(out, bulwark.Artifact{ID: bulwark.ArtifactID(id, name), TaskID: id, Path: name, Size: info.Size(),
					Created: info.ModTime().UTC(), Uploaded: l != nil && l.uploads[name]})
			}
			return nil
		})
	}, func() (err error) {
		out, err = rt.cfg.Artifacts.Artifacts(ctx, tenant, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b bulwark.Artifact) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// ReadFile returns one file of a task of tenant and its content. A path
// that is not valid (see workspace.Clean) is Invalid; a missing file
// NotFound.
func (rt *Runtime) ReadFile(ctx context.Context, tenant bulwark.TenantID, id, name string) (bulwark.Artifact, []byte, error) {
	clean, err := workspace.Clean(name)
	if err != nil {
		return bulwark.Artifact{}, nil, err
	}
	var a bulwark.Artifact
	var data []byte
	err = rt.withFiles(ctx, tenant, id, func(ws *workspace.Workspace, l *live) error {
		info, err := ws.Stat(clean)
		if err != nil {
			return err
		}
		if data, err = ws.ReadFile(clean); err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		a = bulwark.Artifact{ID: bulwark.ArtifactID(id, clean), TaskID: id, Path: clean, Size: int64(len(data)),
			SHA256: hex.EncodeToString(sum[:]), Created: info.ModTime().UTC(), Uploaded: l != nil && l.uploads[clean]}
		return nil
	}, func() (err error) {
		a, data, err = rt.cfg.Artifacts.ArtifactContent(ctx, tenant, id, clean)
		return err
	})
	return a, data, err
}

// PutFile stores data as the file name of a task of tenant, uploaded by a
// person: into its workspace while it is queued or running (the agent can
// read it), else straight into the store. The caller checks the name's
// type and the tenant's quota; PutFile confines the name to the
// workspace (Invalid or PermissionDenied otherwise).
func (rt *Runtime) PutFile(ctx context.Context, tenant bulwark.TenantID, id, name string, data []byte) (bulwark.Artifact, error) {
	clean, err := workspace.Clean(name)
	if err != nil {
		return bulwark.Artifact{}, err
	}
	if clean == "." {
		return bulwark.Artifact{}, bulwark.Errorf(bulwark.Invalid, "runner.PutFile", "give the file a name")
	}
	var a bulwark.Artifact
	err = rt.withFiles(ctx, tenant, id, func(ws *workspace.Workspace, l *live) error {
		if l != nil && l.uploading != nil {
			l.uploading(clean)
		}
		if err := ws.WriteFile(clean, data); err != nil {
			return err
		}
		if l != nil {
			l.uploads[clean] = true
			if l.refresh != nil {
				// A resume after a crash keeps it (checkpoint.go).
				if err := l.refresh(context.WithoutCancel(ctx)); err != nil {
					slog.Warn("an uploaded file is not in the task's checkpoint; a restart before its next step would lose it", "task", id, "err", err)
				}
			}
		}
		sum := sha256.Sum256(data)
		a = bulwark.Artifact{ID: bulwark.ArtifactID(id, clean), TaskID: id, Path: clean, Size: int64(len(data)),
			SHA256: hex.EncodeToString(sum[:]), Uploaded: true}
		return nil
	}, func() (err error) {
		a, err = rt.cfg.Artifacts.PutArtifact(ctx, tenant, bulwark.Artifact{TaskID: id, Path: clean, Uploaded: true}, data)
		return err
	})
	return a, err
}

// StorageUsed is how many bytes of files the tenant keeps: in the store
// and in the workspace folders of its tasks.
func (rt *Runtime) StorageUsed(ctx context.Context, tenant bulwark.TenantID) (int64, error) {
	if err := tenant.Check("runner.StorageUsed"); err != nil {
		return 0, err
	}
	var n int64
	if rt.cfg.Artifacts != nil {
		var err error
		if n, err = rt.cfg.Artifacts.ArtifactUsage(ctx, tenant); err != nil {
			return 0, err
		}
	}
	filepath.WalkDir(filepath.Join(rt.cfg.Dir, string(tenant)), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n, nil
}

// withFiles calls inWorkspace with the task's workspace while the task is
// queued or running here (or always, without an artifact store), and
// sealed otherwise. It holds the task's file lock meanwhile, so that the
// files do not move into the store halfway through.
func (rt *Runtime) withFiles(ctx context.Context, tenant bulwark.TenantID, id string,
	inWorkspace func(*workspace.Workspace, *live) error, sealed func() error) error {
	if _, err := rt.cfg.Store.Task(ctx, tenant, id); err != nil {
		return err
	}
	l := rt.held(tenant, id) // on a cluster, one not held here is in the store
	if l != nil {
		l.files.Lock() // writes change l.uploads; file calls are short
		defer l.files.Unlock()
		if l.sealed {
			l = nil
		}
	}
	if l == nil && rt.cfg.Artifacts != nil {
		return sealed()
	}
	ws, err := workspace.Open(rt.workspaceDir(tenant, id))
	if err != nil {
		return err
	}
	defer ws.Close()
	ws.MaxFileSize = rt.cfg.MaxFileSize
	return inWorkspace(ws, l)
}

// seal moves the files of a task whose run has stopped into the store
// and removes its folder (see the top of this file). A failure is logged
// and leaves the folder for the next Start.
func (rt *Runtime) seal(l *live) { rt.sealKeeping(l, false) }

// sealKeeping is seal, keeping a file the store holds a newer version of
// when keepNewer (a run that lost its task to another node, which may
// have written newer versions since).
func (rt *Runtime) sealKeeping(l *live, keepNewer bool) {
	if rt.cfg.Artifacts == nil {
		return
	}
	l.files.Lock()
	defer l.files.Unlock()
	if l.sealed {
		return
	}
	t := l.task
	if err := rt.sealDir(context.Background(), bulwark.TenantID(t.TenantID), t.ID, l.uploads, keepNewer); err != nil {
		slog.Error("the task's files could not be sealed; they stay in its folder until the next start", "task", t.ID, "err", err)
		return
	}
	l.sealed = true
}

// sealDir seals the regular files of a task's folder into the store, then
// removes the folder. With keepNewer (a folder a process left behind), a
// file the store holds a newer version of stays as stored: in a cluster
// another node may have gone on with the task since, and the folder is
// only what a node that died last had.
func (rt *Runtime) sealDir(ctx context.Context, tenant bulwark.TenantID, id string, uploads map[string]bool, keepNewer bool) error {
	dir := rt.workspaceDir(tenant, id)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	stored := map[string]time.Time{}
	if keepNewer {
		as, err := rt.cfg.Artifacts.Artifacts(ctx, tenant, id)
		if err != nil {
			return err
		}
		for _, a := range as {
			stored[a.Path] = a.Created
		}
	}
	ws, err := workspace.Open(dir)
	if err != nil {
		return err
	}
	ws.MaxFileSize = rt.cfg.MaxFileSize
	dropped := 0
	err = ws.Walk(".", func(name string, info fs.FileInfo) error {
		if info.IsDir() {
			return nil
		}
		if at, ok := stored[name]; ok && info.ModTime().Before(at) {
			return nil // stored since, by whoever went on with the task
		}
		data, err := ws.ReadFile(name)
		if err != nil { // a link, a special file, too big
			dropped++
			return nil
		}
		_, err = rt.cfg.Artifacts.PutArtifact(ctx, tenant, bulwark.Artifact{TaskID: id, Path: name, Uploaded: uploads[name]}, data)
		return err
	})
	ws.Close()
	if err != nil {
		return err
	}
	if dropped > 0 {
		slog.Warn("files of a stopped task were not kept: links, special files or files over the size cap", "task", id, "count", dropped)
	}
	return os.RemoveAll(dir)
}

// sweep seals the folders a previous process left behind: those of tasks
// that are not queued here. On one node, the checkpoint of an interrupted
// task whose folder it sealed is marked sealed (Checkpoint.Sealed).
func (rt *Runtime) sweep(ctx context.Context) {
	if rt.cfg.Artifacts == nil {
		return
	}
	tenants, _ := os.ReadDir(rt.cfg.Dir)
	for _, te := range tenants {
		if !te.IsDir() || strings.HasPrefix(te.Name(), "t_") {
			continue // a task folder of 'bulwark run' (Dir/TASK), not a tenant's
		}
		tenant := bulwark.TenantID(te.Name())
		tasks, _ := os.ReadDir(filepath.Join(rt.cfg.Dir, te.Name()))
		for _, e := range tasks {
			if !e.IsDir() || rt.live(tenant, e.Name()) != nil {
				continue
			}
			t, err := rt.cfg.Store.Task(ctx, tenant, e.Name())
			if err != nil {
				slog.Warn("a workspace folder without a task was left alone", "tenant", tenant, "task", e.Name(), "err", err)
				continue
			}
			if rt.cfg.RunElsewhere != nil && rt.cfg.RunElsewhere(t) {
				continue // a `bulwark run` goes on with a served task here
			}
			if rt.sched == nil && rt.cfg.Checkpoints != nil && !t.Status.Continuable() {
				// A shared queue: a task this node ran when it stopped goes
				// on wherever the queue hands it, from its last checkpoint.
				// This folder is as the cut-off run left it: sealed into
				// the store, it would put back files the checkpoint undid,
				// next to those of the run that goes on elsewhere.
				if err := os.RemoveAll(filepath.Join(rt.cfg.Dir, te.Name(), e.Name())); err != nil {
					slog.Error("the stale folder of a task that goes on from its checkpoint could not be removed", "task", e.Name(), "err", err)
				}
				continue
			}
			if err := rt.sealDir(ctx, tenant, e.Name(), nil, true); err != nil {
				slog.Error("the files of a stopped task could not be sealed", "task", e.Name(), "err", err)
				continue
			}
			if rt.sched != nil && t.Status == bulwark.TaskInterrupted {
				// One node: the folder was the cut-off run's, newer than its
				// checkpoint (every run of the task used it), as a stop
				// that seals it leaves it. Unmarked, a cancel brought back
				// a file the run had removed after its checkpoint. On a
				// cluster, it may be a folder another node has gone on
				// from since.
				rt.markCheckpointSealed(ctx, t)
			}
		}
	}
}
