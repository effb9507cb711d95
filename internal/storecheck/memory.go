package storecheck

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/sealing"
)

// memoryPayload is the sealed part of a memory: what it says, and who it
// belongs to and whether it is tainted, so that neither can be changed in
// the database without the memory failing to open.
type memoryPayload struct {
	Text    string   `json:"text"`
	Tags    []string `json:"tags"`
	User    string   `json:"user,omitempty"`
	Tainted bool     `json:"tainted,omitempty"`
	TaskID  string   `json:"task_id,omitempty"`
}

// MemoryPayload is the JSON of the part of m that stores seal.
func MemoryPayload(m bulwark.Memory) ([]byte, error) {
	return json.Marshal(memoryPayload{Text: m.Text, Tags: m.Tags, User: m.User, Tainted: m.Tainted, TaskID: m.TaskID})
}

// OpenMemoryPayload sets the text and tags of m from its opened JSON. The
// user, taint flag and task read from their columns (already in m) must
// be the sealed ones: a row changed behind the store's back is Internal.
func OpenMemoryPayload(op string, m *bulwark.Memory, pt []byte) error {
	var p memoryPayload
	if err := json.Unmarshal(pt, &p); err != nil {
		return bulwark.E(bulwark.Internal, op, "a stored memory does not read", err)
	}
	if p.User != m.User || p.Tainted != m.Tainted || p.TaskID != m.TaskID {
		return bulwark.Errorf(bulwark.Internal, op, "a stored memory was changed: its user, taint or task is not the one it was sealed with")
	}
	m.Text, m.Tags = p.Text, p.Tags
	if m.Tags == nil {
		m.Tags = []string{}
	}
	return nil
}

// MemoryWords are the search tokens of m under key: its text and tags.
func MemoryWords(key []byte, m bulwark.Memory) string {
	return sealing.IndexWords(key, m.Text+"\n"+strings.Join(m.Tags, "\n"))
}

// MemoryQueryTokens are the distinct search tokens of a query's text
// under key, at most 64; none for a query without words.
func MemoryQueryTokens(key []byte, text string) []string {
	toks := sealing.IndexTokens(key, text)
	slices.Sort(toks)
	toks = slices.Compact(toks)
	if len(toks) > 64 {
		toks = toks[:64]
	}
	return toks
}

// MemoryID refuses, as NotFound, an id that no memory can have.
func MemoryID(op, id string) error {
	if !strings.HasPrefix(id, "mem_") || len(id) > 64 {
		return bulwark.Errorf(bulwark.NotFound, op, "no such memory")
	}
	return nil
}
