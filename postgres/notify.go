package postgres

import "strconv"

// EventsChannel is the PostgreSQL notification channel on which AppendEvent
// announces each stored event, so that a node can stream events that
// another node's runner stored (LISTEN bulwark_events).
const EventsChannel = "bulwark_events"

// EventsPayload is the payload of the notification of event seq of task
// of tenant: "TENANTID:TASKID:SEQ". It names the event and holds nothing
// of its content: a listener reads the event from the store, as the
// tenant. Tenant ids hold no ':' (they are made by the store), so the
// first ':' ends the tenant and the last one starts the seq.
//
// The notification is sent in the transaction that stores the event:
// PostgreSQL delivers it when, and only if, that transaction commits, so
// a listener is never told of an event it cannot read yet, nor of one
// that was refused.
func EventsPayload(tenant, task string, seq int64) string {
	return tenant + ":" + task + ":" + strconv.FormatInt(seq, 10)
}
