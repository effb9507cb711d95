package bulwark

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// Memories are what a tenant's agents keep between tasks: short texts the
// agent writes with the remember tool and finds again with recall, and that
// people list, edit and delete through the API and the web UI.
//
// A memory belongs to its tenant and, when User is set, to that one user:
// a user's private memory is found only by that user's tasks and requests;
// a tenant-wide memory (User "") by all of the tenant's. A memory written
// while its task was tainted is Tainted: recall marks it untrusted and
// taints the task that reads it, so that text an injected page made the
// agent remember cannot instruct a later task.
//
// Stores seal a memory's text, tags, user and taint flag with the tenant's
// data key, bound to the tenant and the memory's id (record kind
// "memory"). The search index holds no word in the clear: each word is
// replaced by a keyed hash (sealing.IndexWords, HMAC-SHA256 with a key of
// the tenant's derived from its data key), and queries go through the same
// transform; SQLite ranks with FTS5 (bm25), PostgreSQL with a tsvector
// index (ts_rank).

// Memory limits.
const (
	MaxMemoryText    = 8 << 10 // bytes of a memory's text
	MaxMemoryTags    = 16      // tags of a memory
	MaxMemoryTagLen  = 64      // bytes of a tag
	MaxMemories      = 10000   // memories of a tenant
	MaxMemoryResults = 100     // memories one search returns at most
)

// Memory is one thing remembered.
type Memory struct {
	ID string `json:"id"` // "mem_..."
	// User is the user the memory is private to; "": tenant-wide.
	User string   `json:"user,omitempty"`
	Text string   `json:"text"`
	Tags []string `json:"tags"`
	// Tainted marks a memory written by a task that had read untrusted
	// text flagged as prompt injection: recalled, it is marked untrusted.
	Tainted bool `json:"tainted"`
	// TaskID is the task that wrote it; "" for one written through the API.
	TaskID  string    `json:"task_id,omitempty"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Rank orders search results, higher first; 0 in a listing.
	Rank float64 `json:"rank,omitempty"`
}

// MemoryQuery says which memories FindMemories returns.
type MemoryQuery struct {
	// Text are the words searched for, ranked by relevance (a memory with
	// any of them matches); "": every memory, newest first.
	Text string
	// User is the reader: its private memories are found beside the
	// tenant-wide ones; "": tenant-wide ones only.
	User  string
	Limit int // <= 0: 20; at most MaxMemoryResults
}

// MemoryStore keeps a tenant's memories. Another tenant's memory is
// NotFound; a tenant holding MaxMemories already is QuotaExceeded on
// AddMemory; a memory over the limits is Invalid (CheckMemory).
type MemoryStore interface {
	// AddMemory stores m (its Text, Tags, User, Tainted, TaskID) with a
	// new ID and the current time, and returns it as stored.
	AddMemory(ctx context.Context, tenant TenantID, m Memory) (Memory, error)
	// Memory returns one memory of tenant, or NotFound.
	Memory(ctx context.Context, tenant TenantID, id string) (Memory, error)
	// UpdateMemory replaces the Text, Tags and Tainted of memory m.ID
	// (its user and task stay) and returns it as stored.
	UpdateMemory(ctx context.Context, tenant TenantID, m Memory) (Memory, error)
	// DeleteMemory removes one memory; an unknown id is NotFound.
	DeleteMemory(ctx context.Context, tenant TenantID, id string) error
	// FindMemories returns the memories q selects.
	FindMemories(ctx context.Context, tenant TenantID, q MemoryQuery) ([]Memory, error)
}

// CheckMemory refuses a memory over the limits, with a message for the
// user or the model: empty or too long text, too many or too long tags, or
// text that is not UTF-8. It returns m with its tags trimmed, empty ones
// dropped and duplicates removed.
func CheckMemory(op string, m Memory) (Memory, error) {
	switch {
	case strings.TrimSpace(m.Text) == "":
		return m, Errorf(Invalid, op, "a memory needs some text")
	case len(m.Text) > MaxMemoryText:
		return m, Errorf(Invalid, op, "a memory's text is at most %d bytes (this one has %d): keep it short", MaxMemoryText, len(m.Text))
	case !utf8.ValidString(m.Text):
		return m, Errorf(Invalid, op, "a memory's text must be UTF-8")
	}
	var tags []string
	seen := map[string]bool{}
	for _, t := range m.Tags {
		t = strings.TrimSpace(t)
		switch {
		case t == "" || seen[t]:
			continue
		case len(t) > MaxMemoryTagLen || !utf8.ValidString(t) || strings.ContainsAny(t, "\x00\n\r"):
			return m, Errorf(Invalid, op, "a tag is one line of at most %d bytes", MaxMemoryTagLen)
		}
		seen[t] = true
		tags = append(tags, t)
	}
	if len(tags) > MaxMemoryTags {
		return m, Errorf(Invalid, op, "a memory has at most %d tags", MaxMemoryTags)
	}
	if tags == nil {
		tags = []string{}
	}
	m.Tags = tags
	return m, nil
}

// MemoryLimit is the number of results of q: its Limit within
// 1..MaxMemoryResults, 20 when unset.
func (q MemoryQuery) MemoryLimit() int {
	switch {
	case q.Limit <= 0:
		return 20
	case q.Limit > MaxMemoryResults:
		return MaxMemoryResults
	}
	return q.Limit
}

// Visible reports whether m may be read by user (a task's creator or a
// request's user; "": nobody in particular): tenant-wide memories by all,
// private ones by their user only.
func (m Memory) Visible(user string) bool { return m.User == "" || m.User == user }
