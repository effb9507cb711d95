package taskenv

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
)

// rereadTimeout bounds one reread of a running task's secrets.
const rereadTimeout = 10 * time.Second

// rereadSecrets reads the tenant's secrets again, after the watch said
// they may have changed: held masks each value it does not hold, and ts
// stops putting in each secret of the task deleted or changed since
// (revokeChanged). A failed read changes nothing.
func rereadSecrets(read func(context.Context) ([]bulwark.Secret, error), held *heldValues, ts *taskSecrets) {
	ctx, cancel := context.WithTimeout(context.Background(), rereadTimeout)
	defer cancel()
	secs, err := read(ctx)
	if err != nil {
		slog.Warn("a running task's secrets could not be read again: a secret added since is not masked by it, nor one deleted or changed kept from it, until they can", "err", err)
		return
	}
	vals := make(map[string]string, len(secs))
	for _, s := range secs {
		vals[s.Name] = s.Value
	}
	held.reread(vals)
	ts.revokeChanged(secs)
}

// heldValues are the values a running task's redactor masks, and what
// reread added: the labels it added to the process's log redactor, which
// close removes.
type heldValues struct {
	red    *secret.Redactor
	log    *secret.Redactor // nil: none
	prefix string

	mu     sync.Mutex
	values map[string]bool // every value red holds
	labels map[string]bool // every label red holds
	added  []string        // labels added to log
	closed bool
}

func newHeldValues(red, log *secret.Redactor, prefix string, sets ...map[string]string) *heldValues {
	h := &heldValues{red: red, log: log, prefix: prefix, values: map[string]bool{}, labels: map[string]bool{}}
	for _, set := range sets {
		for name, v := range set {
			h.values[v], h.labels[name] = true, true
		}
	}
	return h
}

// reread reads the tenant's secret values and masks from now on each one
// not held: under its name, or, for a name held with another value (a
// secret replaced), under NAME_2, NAME_3, ...: the old value stays masked
// too, since the task may still hold it.
func (h *heldValues) reread(vals map[string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	for name, v := range vals {
		if h.values[v] || len(v) < secret.MinSecretLen {
			continue
		}
		label := name
		for n := 2; h.labels[label]; n++ {
			label = name + "_" + strconv.Itoa(n)
		}
		h.red.Add(label, v)
		h.values[v], h.labels[label] = true, true
		if h.log != nil {
			h.log.Add(h.prefix+label, v)
			h.added = append(h.added, h.prefix+label)
		}
	}
}

// close removes from the log redactor what reread added; a reread after
// it adds nothing.
func (h *heldValues) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, l := range h.added {
		h.log.Remove(l)
	}
	h.added = nil
}
