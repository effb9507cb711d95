package llm

import (
	"bytes"
	"sync"
)

// Cache keeps what an adapter worked out for one conversation between its
// requests, so that a request whose messages start with the last one's
// encodes only the new messages: the agent loop sends the whole
// conversation every turn, and encoding it again and again was a large
// share of the loop's CPU. An adapter checks every kept message against the
// request's (SameMessage) before it reuses the encoding, so a conversation
// that was rewritten (compacted, redacted) is encoded anew, never stale.
// The zero Cache is ready; it is safe for concurrent use, though it helps
// only one conversation.
type Cache struct {
	mu    sync.Mutex
	owner any
	state any
}

// Take returns what owner (an adapter's own key) stored, or nil, and
// leaves the Cache empty: the taker owns the state until it stores it
// again, so two requests at once never share it (the second finds nothing
// and encodes in full). A nil Cache holds nothing.
func (c *Cache) Take(owner any) any {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner != owner {
		return nil
	}
	s := c.state
	c.owner, c.state = nil, nil
	return s
}

// Store keeps state for owner, replacing whatever was there. A nil Cache
// keeps nothing.
func (c *Cache) Store(owner, state any) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.owner, c.state = owner, state
}

// SameMessage reports whether a and b would be sent alike: every field but
// Pinned is equal.
func SameMessage(a, b Message) bool {
	if a.Role != b.Role || a.Content != b.Content || a.ToolCallID != b.ToolCallID ||
		a.ToolName != b.ToolName || a.IsError != b.IsError || len(a.ToolCalls) != len(b.ToolCalls) {
		return false
	}
	for i, c := range a.ToolCalls {
		d := b.ToolCalls[i]
		if c.ID != d.ID || c.Name != d.Name || !bytes.Equal(c.Arguments, d.Arguments) {
			return false
		}
	}
	return true
}

// CloneMessage returns a copy of m that shares no memory that could be
// changed in place with it (the tool calls and their arguments are copied).
func CloneMessage(m Message) Message {
	if m.ToolCalls != nil {
		calls := make([]ToolCall, len(m.ToolCalls))
		for i, c := range m.ToolCalls {
			c.Arguments = bytes.Clone(c.Arguments)
			calls[i] = c
		}
		m.ToolCalls = calls
	}
	return m
}
