// Package storetest is the conformance suite of Bulwark's stores: one set
// of tests that every implementation (sqlite, postgres) passes, so that
// they behave alike — error kinds, ordering, NotFound for another tenant's
// records, Conflict cases, and what is sealed at rest.
//
// A store's own tests call Run with a function that opens a new, empty
// store for one test:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Store { ... })
//	}
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
)

// Store is the method set the stores share: every store interface of the
// root package and what the task runtime uses beyond them.
type Store interface {
	bulwark.Store
	bulwark.ArtifactStore
	bulwark.UsageStore
	bulwark.TaskQuerier
	bulwark.CheckpointStore
	bulwark.ControlStore
	bulwark.ScheduleStore
	bulwark.MemoryStore

	// ContinueTask opens a new turn of a task that stopped.
	ContinueTask(ctx context.Context, tenant bulwark.TenantID, id string, limits *bulwark.Limits) (bulwark.Task, error)
	// ResumeTask is ContinueTask of a task interrupted in a given turn.
	ResumeTask(ctx context.Context, tenant bulwark.TenantID, id string, turn int) (bulwark.Task, error)
	// EndInterrupted ends a task interrupted in a given turn with events.
	EndInterrupted(ctx context.Context, tenant bulwark.TenantID, id string, turn int, events []bulwark.Event) error
	// DeleteArtifacts removes every file kept for a task.
	DeleteArtifacts(ctx context.Context, tenant bulwark.TenantID, taskID string) error
	// UnfinishedTasks returns the tasks of every tenant that had not ended.
	UnfinishedTasks(ctx context.Context) ([]bulwark.Task, error)
	// LastEventSeq returns the Seq of a task's last event (0: none).
	LastEventSeq(ctx context.Context, tenant bulwark.TenantID, id string) (int64, error)
	// SchemaVersion is the schema version of the database.
	SchemaVersion(ctx context.Context) (int, error)
}

// Harness is what the suite needs of a store beyond Store, to look at
// what it keeps at rest and at how it treats master keys. The stores the
// open function of Run returns implement it.
type Harness interface {
	Store
	// Keys is the keyring the store was opened with. It holds no key file:
	// master keys come from "the environment".
	Keys() *secret.Keyring
	// Dump returns every byte the store keeps at rest, as raw as the
	// backend allows: a SQLite database's files, a PostgreSQL database's
	// rows as text.
	Dump(t *testing.T) []byte
	// Reopen closes the store and opens its database again with keys,
	// returning Open's error.
	Reopen(t *testing.T, keys *secret.Keyring) (Harness, error)
	// Exec runs a statement on the database directly, behind the store's
	// back, as an attacker with access to the database would; it writes
	// its arguments as ? whatever the backend, and fails the test on
	// error.
	Exec(t *testing.T, query string, args ...any)
}

// Run runs the suite, each test on a store of its own from open (which
// fails the test itself when it cannot open one, and closes the store at
// cleanup). The tests run in parallel.
func Run(t *testing.T, open func(t *testing.T) Store) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.f(t, open)
		})
	}
}

var tests = []struct {
	name string
	f    func(*testing.T, func(*testing.T) Store)
}{
	{"Tenants", testTenants},
	{"LocalTenantConcurrent", testLocalTenantConcurrent},
	{"TasksAndEvents", testTasksAndEvents},
	{"EventsAfterLimit", testEventsAfterLimit},
	{"TaskUsage", testTaskUsage},
	{"Secrets", testSecrets},
	{"SecretHosts", testSecretHosts},
	{"SecretInject", testSecretInject},
	{"Users", testUsers},
	{"EmailsPerTenant", testEmailsPerTenant},
	{"DeleteUser", testDeleteUser},
	{"APIKeys", testAPIKeys},
	{"RevokeKeyTree", testRevokeKeyTree},
	{"AuthVersion", testAuthVersion},
	{"Sessions", testSessions},
	{"Settings", testSettings},
	{"Artifacts", testArtifacts},
	{"QueryTasks", testQueryTasks},
	{"ContinueTask", testContinueTask},
	{"DeleteArtifacts", testDeleteArtifacts},
	{"UnfinishedTasks", testUnfinishedTasks},
	{"SharedKeyUsage", testSharedKeyUsage},
	{"TenantRequired", testTenantRequired},
	{"CrossTenant", testCrossTenant},
	{"SchemaVersion", testSchemaVersion},
	{"NothingInTheClear", testNothingInTheClear},
	{"RotateAndRetire", testRotateAndRetire},
	{"WrongMasterKey", testWrongMasterKey},
	{"SealedValueMoved", testSealedValueMoved},
	{"Checkpoints", testCheckpoints},
	{"TwoFactor", testTwoFactor},
	{"ExpireAPIKey", testExpireAPIKey},
	{"CheckpointErrors", testCheckpointErrors},
	{"CheckpointsCrossTenant", testCheckpointsCrossTenant},
	{"CheckpointMoved", testCheckpointMoved},
	{"Controls", testControls},
	{"ControlsOneAnswerPerApproval", testControlsOneAnswer},
	{"ControlEventSeq", testControlEventSeq},
	{"ContinueMovesMessages", testContinueMovesMessages},
	{"ContinueCanceledAtStop", testContinueCanceledAtStop},
	{"InterruptedCompareAndSet", testInterruptedCompareAndSet},
	{"TaskParent", testTaskParent},
	{"TaskWithChildren", testTaskWithChildren},
	{"TaskCreator", testTaskCreator},
	{"Schedules", testSchedules},
	{"ScheduleClaimConcurrent", testScheduleClaimConcurrent},
	{"Memories", testMemories},
	{"Skills", testSkills},
}

func mustTenant(t *testing.T, s Store, name string) bulwark.TenantID {
	t.Helper()
	tn, err := s.CreateTenant(context.Background(), name)
	if err != nil {
		t.Fatalf("CreateTenant(%q): %v", name, err)
	}
	return tn.ID
}

func mustTask(t *testing.T, s Store, tenant bulwark.TenantID, task bulwark.Task) bulwark.Task {
	t.Helper()
	got, err := s.CreateTask(context.Background(), tenant, task)
	if err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	return got
}

func harness(t *testing.T, s Store) Harness {
	t.Helper()
	h, ok := s.(Harness)
	if !ok {
		t.Fatalf("the store %T does not implement storetest.Harness", s)
	}
	return h
}

func kindIs(err error, k bulwark.Kind) bool { return bulwark.ErrorKind(err) == k }

// stamp is a time stored and read back at the stores' resolution.
func stamp(t time.Time) time.Time { return time.Unix(0, t.UnixNano()).UTC() }
