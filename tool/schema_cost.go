package tool

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// maxFanOut bounds how many subschemas of a raw schema apply to one place
// of the arguments: those its allOf, anyOf, oneOf, not, if, then, else,
// dependentSchemas and $ref reach without going into a property or an
// item. Validating is that much work at each place, and a schema of 1.9 KB
// whose anyOf branches double at each of 26 levels ($ref twice to the
// next) took gigabytes and minutes of CPU to validate {} against, before
// the policy could refuse the call (a red team of hostile MCP servers).
const maxFanOut = 1000

// sameSpot are the keywords whose subschemas apply to the same place of
// the arguments as the schema that holds them.
var sameSpot = []string{"allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas"}

// checkFanOut refuses a schema in which one place of the arguments is
// checked against more than maxFanOut subschemas, or against a chain of
// references that comes back to where it began (it would never end), or
// with a reference that is not a JSON pointer into the schema itself.
func checkFanOut(doc json.RawMessage) error {
	var root any
	if err := json.Unmarshal(doc, &root); err != nil {
		return err
	}
	c := fanOut{root: root, memo: map[string]int{}, busy: map[string]bool{}}
	c.visit("", root)
	return c.err
}

type fanOut struct {
	root any
	memo map[string]int  // a subschema's fan-out, by its path in the document
	busy map[string]bool // paths being counted: one reached again is a loop
	err  error
}

// visit counts every subschema of node (at path) and the fan-out of each.
func (c *fanOut) visit(path string, node any) {
	if c.err != nil {
		return
	}
	switch n := node.(type) {
	case map[string]any:
		c.count(path, n)
		for k, v := range n {
			c.visit(path+"/"+escapePointer(k), v)
		}
	case []any:
		for i, v := range n {
			c.visit(path+"/"+strconv.Itoa(i), v)
		}
	}
}

// count returns how many subschemas apply where node (at path) applies,
// node included, up to maxFanOut+1.
func (c *fanOut) count(path string, node any) int {
	if c.err != nil {
		return maxFanOut + 1
	}
	if n, ok := c.memo[path]; ok {
		return n
	}
	m, ok := node.(map[string]any)
	if !ok {
		return 1 // true or false
	}
	if c.busy[path] {
		c.err = fmt.Errorf("its references at %q come back to where they began", path)
		return maxFanOut + 1
	}
	c.busy[path] = true
	defer delete(c.busy, path)
	total := 1
	add := func(n int) { total = min(total+n, maxFanOut+1) }
	for _, k := range sameSpot {
		switch v := m[k].(type) {
		case []any:
			for i, s := range v {
				add(c.count(path+"/"+k+"/"+strconv.Itoa(i), s))
			}
		case map[string]any:
			if k == "dependentSchemas" {
				for name, s := range v {
					add(c.count(path+"/"+k+"/"+escapePointer(name), s))
				}
				continue
			}
			add(c.count(path+"/"+k, v))
		}
	}
	if ref, ok := m["$ref"].(string); ok {
		target, err := c.resolve(ref)
		if err != nil {
			c.err = err
			return maxFanOut + 1
		}
		add(c.count(strings.TrimPrefix(ref, "#"), target))
	}
	if total > maxFanOut && c.err == nil {
		c.err = fmt.Errorf("one place of the arguments is checked against more than %d of its subschemas (at %q)", maxFanOut, path)
	}
	c.memo[path] = total
	return total
}

// resolve follows a reference that is a JSON pointer into the document.
func (c *fanOut) resolve(ref string) (any, error) {
	if ref != "#" && !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("its reference %q is not a JSON pointer into the schema (\"#/$defs/...\")", ref)
	}
	node := c.root
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#"), "/")[1:] {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		switch n := node.(type) {
		case map[string]any:
			v, ok := n[part]
			if !ok {
				return nil, fmt.Errorf("its reference %q leads nowhere", ref)
			}
			node = v
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(n) {
				return nil, fmt.Errorf("its reference %q leads nowhere", ref)
			}
			node = n[i]
		default:
			return nil, fmt.Errorf("its reference %q leads nowhere", ref)
		}
	}
	return node, nil
}

// escapePointer escapes a key for a JSON pointer.
func escapePointer(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}
