package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

var duplicateKeyTests = []struct {
	body string
	dup  bool
}{
	{`{"email":"a","password":"b"}`, false},
	{`{"email":"a","email":"b"}`, true},
	{`{"role":"viewer","ROLE":"owner"}`, true},         // encoding/json matches fields without case
	{`{"name":"x","\u006eame":"y"}`, true},             // an escape spells the same key
	{`{"limits":{"max_steps":1,"max_steps":2}}`, true}, // nested
	{`{"a":[{"k":1},{"k":2}]}`, false},                 // one key in each of two objects
	{`{"a":{"k":1},"b":{"k":1}}`, false},               // same key, other objects
	{`{"a":["a","a"],"b":"a"}`, false},                 // strings as values are not keys
	{`{"a":[{"x":1,"x":2}]}`, true},                    // in an object in an array
	{`{"k":"v","a":{"k":"v"},"k2":{"k":[1,{"k":1}]}}`, false},
	{`{"a":1,`, false}, // malformed: left to the decoder
}

func TestRefuseDuplicateKeys(t *testing.T) {
	t.Parallel()
	for _, c := range duplicateKeyTests {
		err := refuseDuplicateKeys("test", []byte(c.body))
		if got := err != nil; got != c.dup {
			t.Errorf("refuseDuplicateKeys(%s) = %v, want duplicate %v", c.body, err, c.dup)
		}
		if err != nil && bulwark.ErrorKind(err) != bulwark.Invalid {
			t.Errorf("refuseDuplicateKeys(%s) kind = %v, want Invalid", c.body, bulwark.ErrorKind(err))
		}
	}
}

// TestDuplicateKeysRefusedOnRoutes: a body naming a field twice is a 400
// on the routes that decode JSON (login, users, settings, the Agent
// Protocol's steps), and the message does not repeat the field.
func TestDuplicateKeysRefusedOnRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	owner := a.keys[bulwark.RoleOwner]
	email := a.users[bulwark.RoleOwner].Email
	cases := []req{
		{method: "POST", path: "/api/v1/login", body: `{"email":"` + email + `","password":"x","password":"` + testPassword + `"}`},
		{method: "POST", path: "/api/v1/users", key: owner, body: `{"email":"n@a.test","password":"` + testPassword + `","role":"viewer","Role":"owner"}`},
		{method: "PUT", path: "/api/v1/settings", key: owner, body: `{"max_concurrent_tasks":1,"max_concurrent_tasks":2}`},
		{method: "POST", path: "/api/v1/keys", key: owner, body: `{"name":"k","name":"k2"}`},
	}
	for _, rq := range cases {
		w := e.do(rq)
		if w.Code != 400 {
			t.Errorf("%s %s %s = %d %s, want 400", rq.method, rq.path, rq.body, w.Code, w.Body)
			continue
		}
		if msg := errorOf(t, w).Message; !strings.Contains(msg, "twice") {
			t.Errorf("%s %s: message %q, want one about a field named twice", rq.method, rq.path, msg)
		}
	}
}

// FuzzRefuseDuplicateKeys: any body, valid or not, is answered without a
// panic; a body it lets through decodes, as a map, to as many keys as
// the object names at its top level.
func FuzzRefuseDuplicateKeys(f *testing.F) {
	for _, c := range duplicateKeyTests {
		f.Add(c.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if refuseDuplicateKeys("fuzz", []byte(body)) != nil {
			return
		}
		dec := json.NewDecoder(strings.NewReader(body))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			return
		}
		n := 0
		for dec.More() {
			if _, err := dec.Token(); err != nil { // the key
				return
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return
			}
			n++
		}
		if _, err := dec.Token(); err != nil {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(body), &m) != nil {
			return
		}
		if len(m) != n {
			t.Fatalf("%s: %d keys named, %d decoded, and not refused", body, n, len(m))
		}
	})
}
