package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/pgtest"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/jackc/pgx/v5"
)

func TestEventsPayload(t *testing.T) {
	if got, want := EventsPayload("tn_01ab", "t_9f", 42), "tn_01ab:t_9f:42"; got != want {
		t.Errorf("EventsPayload = %q, want %q", got, want)
	}
}

// TestAppendEventNotifies: a listener on another connection (as another
// node would be) receives EventsPayload on EventsChannel for each event
// stored, and nothing for an append that failed: a seq already stored
// (Conflict), another tenant's task, or a transaction that fails at
// commit, after the notification was queued in it.
func TestAppendEventNotifies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	db := mustOpen(t, url, secret.NewKeyring())
	a, err := db.CreateTenant(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.CreateTenant(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	task, err := db.CreateTask(ctx, a.ID, bulwark.Task{Input: "x"})
	if err != nil {
		t.Fatal(err)
	}

	listener, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listener.Close(context.Background()) })
	if _, err := listener.Exec(ctx, "LISTEN "+EventsChannel); err != nil {
		t.Fatal(err)
	}
	next := func(what string) string {
		t.Helper()
		// The bound is for a broken build, which would otherwise hang;
		// a working one is notified at once.
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		n, err := listener.WaitForNotification(wctx)
		if err != nil {
			t.Fatalf("%s: no notification: %v", what, err)
		}
		if n.Channel != EventsChannel {
			t.Errorf("%s: notified on %q, want %q", what, n.Channel, EventsChannel)
		}
		return n.Payload
	}
	event := func(seq int64) bulwark.Event {
		return bulwark.Event{TaskID: task.ID, Seq: seq, Type: bulwark.EventNotice, Text: "secret text of the event"}
	}

	if err := db.AppendEvent(ctx, a.ID, event(1)); err != nil {
		t.Fatal(err)
	}
	if got, want := next("after event 1"), EventsPayload(string(a.ID), task.ID, 1); got != want {
		t.Errorf("after event 1 the payload is %q, want %q", got, want)
	}

	// Appends that fail notify nothing: the next notification is event 2's.
	if err := db.AppendEvent(ctx, a.ID, event(1)); !kindIs(err, bulwark.Conflict) {
		t.Fatalf("AppendEvent of a seq already stored = %v, want Conflict", err)
	}
	if err := db.AppendEvent(ctx, b.ID, event(5)); !kindIs(err, bulwark.NotFound) {
		t.Fatalf("AppendEvent into another tenant's task = %v, want NotFound", err)
	}
	// A transaction that fails at commit, after every statement of the
	// append (the notification included) ran: a deferred trigger refuses
	// seq 13 when the transaction commits.
	if _, err := db.pool.Exec(ctx, `
		CREATE FUNCTION refuse_13() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.seq = 13 THEN RAISE EXCEPTION 'refused at commit'; END IF; RETURN NULL; END $$;
		CREATE CONSTRAINT TRIGGER refuse_13 AFTER INSERT ON events DEFERRABLE INITIALLY DEFERRED
			FOR EACH ROW EXECUTE FUNCTION refuse_13();`); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendEvent(ctx, a.ID, event(13)); err == nil {
		t.Fatal("AppendEvent of seq 13 succeeded; the deferred trigger should fail its commit")
	}
	if evs, err := db.Events(ctx, a.ID, task.ID, 0, 0); err != nil || len(evs) != 1 {
		t.Fatalf("after the failed appends Events = %d events, %v; want 1", len(evs), err)
	}
	if err := db.AppendEvent(ctx, a.ID, event(2)); err != nil {
		t.Fatal(err)
	}
	if got, want := next("after event 2"), EventsPayload(string(a.ID), task.ID, 2); got != want {
		t.Errorf("after failed appends and event 2 the payload is %q, want %q (nothing for the failed ones)", got, want)
	}
}

func kindIs(err error, k bulwark.Kind) bool { return bulwark.ErrorKind(err) == k }
