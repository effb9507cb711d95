package bulwark

import (
	"context"
	"time"
)

// The store keeps tenants, tasks with their events, secrets and the keys
// that encrypt them. It is split into small interfaces so that each part of
// Bulwark asks only for what it uses, and so that later parts (users, API
// keys, sessions, settings, artifacts) are new interfaces added to Store
// rather than changes to these. Implementations: sqlite (embedded), later
// postgres.
//
// Every method that touches a tenant's data takes the TenantID as its first
// argument after the context and refuses the zero TenantID with an Invalid
// error. A record of another tenant is NotFound, exactly as a record that
// does not exist. Task contents, events and secret values are encrypted at
// rest with the tenant's data key; a record that does not open (changed,
// moved to another tenant or record, or a wrong master key) is an Internal
// error, never empty or foreign data.

// TenantStore keeps tenants. Tenants are the only records that are not
// themselves scoped by a tenant; listing and creating them is an operator
// action.
type TenantStore interface {
	// CreateTenant makes a tenant and its data key. A name already taken
	// is Conflict.
	CreateTenant(ctx context.Context, name string) (Tenant, error)
	// Tenant returns the tenant with id, or NotFound.
	Tenant(ctx context.Context, id TenantID) (Tenant, error)
	// TenantByName returns the tenant named name, or NotFound.
	TenantByName(ctx context.Context, name string) (Tenant, error)
	// ListTenants returns every tenant, oldest first.
	ListTenants(ctx context.Context) ([]Tenant, error)
	// LocalTenant returns the tenant named LocalTenantName, creating it on
	// first use (safely when several processes race to do so).
	LocalTenant(ctx context.Context) (Tenant, error)
}

// TaskStore keeps tasks and their events.
type TaskStore interface {
	// CreateTask stores a new task of tenant and returns it as stored: an
	// empty ID gets a new one ("t_..."), a zero Created the current time,
	// an empty Status TaskQueued; TenantID is set to tenant. An ID already
	// used is Conflict.
	CreateTask(ctx context.Context, tenant TenantID, t Task) (Task, error)
	// Task returns one task of tenant, or NotFound.
	Task(ctx context.Context, tenant TenantID, id string) (Task, error)
	// ListTasks returns the tenant's tasks, newest first.
	ListTasks(ctx context.Context, tenant TenantID, opt ListTasksOptions) ([]Task, error)
	// SetTaskStatus changes the status of a task that has not ended
	// (queued, running, waiting); a task that has ended is Conflict.
	SetTaskStatus(ctx context.Context, tenant TenantID, id string, status TaskStatus) error
	// AppendEvent stores e (e.TaskID, e.Seq > 0) and commits it before it
	// returns, so a reader that streams stored events sees only committed
	// ones. A Seq already stored for the task is Conflict. An event of
	// type task_started marks the task running, and one of type
	// task_finished sets its status (TaskStatusFor), reason and answer
	// (e.Text) in the same transaction. Live-only events (EventType.Live:
	// model_delta, tool_output_delta) are refused, kind Invalid.
	AppendEvent(ctx context.Context, tenant TenantID, e Event) error
	// Events returns up to limit events of a task (limit <= 0: all) whose
	// Seq is greater than after, in Seq order: pass the last Seq seen to
	// resume a stream. An unknown task is NotFound.
	Events(ctx context.Context, tenant TenantID, taskID string, after int64, limit int) ([]Event, error)
}

// ListTasksOptions narrow ListTasks.
type ListTasksOptions struct {
	Limit int // most tasks returned; <= 0 means 100
}

// SecretStore keeps a tenant's secrets: values that tools receive through
// {{secret:NAME}} placeholders and that are masked out of everything shown.
// Names match ^[A-Za-z_][A-Za-z0-9_]{0,63}$; values are never returned by a
// listing.
type SecretStore interface {
	// SetSecret creates or replaces a secret, bound to hosts: the host
	// names or "*.domain" patterns the egress proxy may send its value to
	// (none: an unbound secret, usable in the sandbox only where the
	// operator allows it). A bad name, an empty or too short value (see
	// secret.MinSecretLen), or a bad host pattern (an address, a wildcard
	// other than a leading "*.") is Invalid.
	SetSecret(ctx context.Context, tenant TenantID, name, value string, hosts ...string) error
	// PutSecret is SetSecret with every field of s, Inject included: where
	// in requests to its hosts the value may go. A secret bound to no host
	// with Inject other than headers only is Invalid (the proxy never puts
	// an unbound secret anywhere).
	PutSecret(ctx context.Context, tenant TenantID, s Secret) error
	// ListSecrets returns the names and dates of the tenant's secrets,
	// sorted by name; never their values.
	ListSecrets(ctx context.Context, tenant TenantID) ([]SecretInfo, error)
	// SecretValues returns every secret of the tenant by name, for
	// substitution into tool arguments and for the redactor.
	SecretValues(ctx context.Context, tenant TenantID) (map[string]string, error)
	// Secrets returns every secret of the tenant with its value and hosts,
	// read together, sorted by name, for setting up a task.
	Secrets(ctx context.Context, tenant TenantID) ([]Secret, error)
	// DeleteSecret removes a secret; an unknown name is NotFound.
	DeleteSecret(ctx context.Context, tenant TenantID, name string) error
}

// Secret is a secret with its value, for setting up a task.
type Secret struct {
	Name   string
	Value  string
	Hosts  []string     // the host patterns the value may be sent to; nil: unbound
	Inject SecretInject // where in a request to those hosts; zero: headers only
}

// SecretInfo describes a secret without its value.
type SecretInfo struct {
	Name    string       `json:"name"`
	Hosts   []string     `json:"hosts"`  // the host patterns it is bound to; empty: unbound
	Inject  SecretInject `json:"inject"` // where in requests to them: ["headers"] at least
	Created time.Time    `json:"created"`
	Updated time.Time    `json:"updated"`
}

// KeyAdmin manages the master keys that wrap the tenants' data keys. These
// are operator actions, not scoped by a tenant.
type KeyAdmin interface {
	// RotateMaster adds a new master key version, makes it current and
	// re-wraps every data key with it in one transaction. Readers keep
	// working throughout: the old version still opens until retired.
	RotateMaster(ctx context.Context) (KeyRotation, error)
	// RetireMaster removes master key version v. It is Conflict while v is
	// current or any data key is still wrapped by it, and NotFound when v
	// is not (or no longer) a master key version.
	RetireMaster(ctx context.Context, v int) error
	// KeyStatus describes the master key versions and what they wrap.
	KeyStatus(ctx context.Context) (KeyStatus, error)
}

// KeyRotation is what RotateMaster did.
type KeyRotation struct {
	Version   int // the new current master key version
	Previous  int // the version that was current before
	Rewrapped int // data keys re-wrapped
	// DataKeys is how many new data keys were made, one a tenant: what is
	// sealed from then on, the versions before do not open.
	DataKeys int
}

// KeyStatus describes the master keys of a store.
type KeyStatus struct {
	Current  int             `json:"current"`
	Source   string          `json:"source"` // where the master keys come from, e.g. "file /etc/bulwark/master.key"
	Versions []MasterKeyInfo `json:"versions"`
}

// MasterKeyInfo describes one master key version.
type MasterKeyInfo struct {
	Version  int       `json:"version"`
	Created  time.Time `json:"created"`   // when the store first saw it
	DataKeys int       `json:"data_keys"` // data keys it wraps
	Current  bool      `json:"current"`
}

// Store is everything the embedded and server modes keep. Close releases it;
// the Store must not be used afterwards.
type Store interface {
	TenantStore
	TaskStore
	SecretStore
	KeyAdmin
	UserStore
	APIKeyStore
	SessionStore
	SettingsStore
	SkillStore
	TwoFactorStore
	Close() error
}

// TaskStatusFor is the status of a task that ended for reason r: succeeded
// when it is done, canceled when canceled, failed otherwise.
func TaskStatusFor(r FinishReason) TaskStatus {
	switch r {
	case FinishDone:
		return TaskSucceeded
	case FinishCanceled:
		return TaskCanceled
	}
	return TaskFailed
}

// Continuable reports whether a person's message may continue a task with
// status s in a new turn of its conversation: one that ended (succeeded,
// failed or canceled) or was interrupted by a restart. A queued, running
// or waiting task takes messages into its current turn instead.
func (s TaskStatus) Continuable() bool {
	return s.Ended() || s == TaskInterrupted
}

// Ended reports whether a task with status s has ended and can no longer
// change. An interrupted task (its process stopped under it) has not: it
// may be resumed.
func (s TaskStatus) Ended() bool {
	switch s {
	case TaskSucceeded, TaskFailed, TaskCanceled:
		return true
	}
	return false
}
