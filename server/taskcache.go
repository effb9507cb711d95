package server

import (
	"bytes"
	"container/list"
	"encoding/json"
	"sync"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
)

// Bounds of the task cache: entries, and bytes of encoded answers.
const (
	taskCacheEntries = 4096
	taskCacheBytes   = 32 << 20
	// taskCacheMaxBody: an answer larger than this is not kept (one
	// task's view should not push out hundreds of others).
	taskCacheMaxBody = 256 << 10
)

// taskCache keeps the encoded answers of GET /api/v1/tasks/{id}, by
// tenant and task id, each with the task's version
// (bulwark.TaskVersioner) read before the task was: an answer is served
// again only while the store's version of the task is still that one,
// so a change of the task or of its children, made by any process,
// is seen at the next request. Answers of queued tasks are not kept (their
// view has the queue's position, which moves without the task). The
// least recently used answers go first when the cache holds more than
// taskCacheEntries answers or taskCacheBytes bytes.
//
// The cache is reached only after the request was authenticated and its
// tenant set, as the store would be; its key has the tenant, so an answer
// is never served to another tenant, even for the same id.
type taskCache struct {
	mu    sync.Mutex
	ll    *list.List // of *cachedTask, most recently used first
	items map[taskCacheKey]*list.Element
	bytes int
}

type taskCacheKey struct {
	tenant bulwark.TenantID
	id     string
}

type cachedTask struct {
	key     taskCacheKey
	version uint64
	red     *secret.Redactor // what the answer was masked with
	body    []byte           // the JSON answer, with its newline
}

func newTaskCache() *taskCache {
	return &taskCache{ll: list.New(), items: map[taskCacheKey]*list.Element{}}
}

// get returns the answer kept for tenant's task id at version, if any.
// One kept at another version is dropped.
func (c *taskCache) get(tenant bulwark.TenantID, id string, version uint64, red *secret.Redactor) []byte {
	k := taskCacheKey{tenant, id}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil
	}
	e := el.Value.(*cachedTask)
	if e.version != version || e.red != red {
		c.remove(el)
		return nil
	}
	c.ll.MoveToFront(el)
	return e.body
}

// put keeps body as the answer for tenant's task id at version.
func (c *taskCache) put(tenant bulwark.TenantID, id string, version uint64, red *secret.Redactor, body []byte) {
	if len(body) > taskCacheMaxBody {
		return
	}
	k := taskCacheKey{tenant, id}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.remove(el)
	}
	c.items[k] = c.ll.PushFront(&cachedTask{key: k, version: version, red: red, body: body})
	c.bytes += len(body)
	for c.ll.Len() > taskCacheEntries || c.bytes > taskCacheBytes {
		c.remove(c.ll.Back())
	}
}

func (c *taskCache) remove(el *list.Element) {
	e := c.ll.Remove(el).(*cachedTask)
	delete(c.items, e.key)
	c.bytes -= len(e.body)
}

// len is the number of answers kept.
func (c *taskCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// encodeJSON is what writeJSON writes for v.
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
