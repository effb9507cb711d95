package taskenv

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
	"github.com/bulwark-agents/bulwark/secret"
)

// Tool names whose secrets follow the host rules below.
const (
	toolRunShell = "run_shell"
	toolRunCode  = "run_code"
	toolFetchURL = "fetch_url"
)

// taskSecrets are the secrets of one task and the rules by which they
// reach its tools:
//   - in run_shell and run_code, a secret bound to hosts stays a
//     placeholder: the sandbox's egress proxy puts the value into HTTPS
//     requests to those hosts, so the code never holds it; an unbound one
//     is refused, or put in where the operator opted in (inSandbox);
//   - fetch_url gets a bound secret's value only when the URL's host is one
//     of the secret's hosts (an unbound one as in the sandbox);
//   - any other tool allowed secrets gets every value, as before.
type taskSecrets struct {
	values    map[string]string
	hosts     map[string]egress.Allowlist // the bound secrets only
	inject    map[string]bulwark.SecretInject
	inSandbox bool

	// The secrets as the task began, and those deleted or changed since
	// (revokeChanged), which are not put in any more.
	orig    map[string]bulwark.Secret
	mu      sync.Mutex
	revoked map[string]bool
}

// revokeChanged marks each of the task's secrets that now, the tenant's
// secrets read again, is gone or changed: its value, its hosts or where
// it may go. A task uses its secrets as they were when it began; one
// deleted or narrowed since was still put in, by fetch_url and by the
// sandbox's proxy, for as long as the task ran (a red team).
func (ts *taskSecrets) revokeChanged(now []bulwark.Secret) {
	cur := make(map[string]bulwark.Secret, len(now))
	for _, s := range now {
		cur[s.Name] = s
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for name, was := range ts.orig {
		is, ok := cur[name]
		if !ok || is.Value != was.Value || is.Inject != was.Inject || !sameHosts(is.Hosts, was.Hosts) {
			if ts.revoked == nil {
				ts.revoked = map[string]bool{}
			}
			ts.revoked[name] = true
		}
	}
}

// sameHosts says whether two host lists hold the same patterns.
func sameHosts(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// isRevoked says whether the task's secret name was deleted or changed
// since the task began.
func (ts *taskSecrets) isRevoked(name string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.revoked[name]
}

// checkRevoked refuses args when a placeholder in them names a secret
// deleted or changed since the task began.
func (ts *taskSecrets) checkRevoked(args json.RawMessage) error {
	for _, name := range secret.Placeholders(args) {
		if ts.isRevoked(name) {
			return bulwark.Errorf(bulwark.PermissionDenied, "agent.secrets",
				"secret %s was deleted or changed since this task began, so the task cannot use it any more; a new task uses it as it is now", name)
		}
	}
	return nil
}

func newTaskSecrets(all []bulwark.Secret, inSandbox bool) (*taskSecrets, error) {
	ts := &taskSecrets{values: map[string]string{}, hosts: map[string]egress.Allowlist{}, inject: map[string]bulwark.SecretInject{}, inSandbox: inSandbox,
		orig: map[string]bulwark.Secret{}}
	for _, s := range all {
		ts.values[s.Name] = s.Value
		ts.orig[s.Name] = s
		ts.inject[s.Name] = s.Inject
		if len(s.Hosts) == 0 {
			continue
		}
		l, err := egress.ParseAllowlist(s.Hosts)
		if err == nil && l.AnyHost() {
			// Never stored (egress.BindingHosts refuses it); a secret
			// bound to every host would be bound to none.
			err = fmt.Errorf("bound to every host (*)")
		}
		if err != nil {
			return nil, bulwark.E(bulwark.Internal, "task.secrets", fmt.Sprintf("the hosts of secret %s cannot be read", s.Name), err)
		}
		ts.hosts[s.Name] = l
	}
	return ts, nil
}

// intercept is what the task's sandbox proxy needs to put the bound
// secrets into requests, with a new task CA; nil when no secret is bound,
// or when secretTools (the tools that may use secrets) has no code tool.
// Code can build a placeholder at run time, so the proxy, not the agent
// loop, is where the code tools' right to secrets is enforced.
func (ts *taskSecrets) intercept(secretTools []string) (*egress.Intercept, error) {
	if !slices.Contains(secretTools, toolRunShell) && !slices.Contains(secretTools, toolRunCode) {
		return nil, nil
	}
	var list []egress.Secret
	for name, hosts := range ts.hosts {
		list = append(list, ts.egressSecret(name, secret.Placeholder(name), hosts))
	}
	if len(list) == 0 {
		return nil, nil
	}
	slices.SortFunc(list, func(a, b egress.Secret) int { return strings.Compare(a.Name, b.Name) })
	ic, err := egress.NewIntercept(list)
	if err != nil {
		return nil, bulwark.E(bulwark.Internal, "task.secrets", "the sandbox's egress proxy cannot be prepared for the task's secrets", err)
	}
	ic.Revoked = ts.isRevoked
	return ic, nil
}

// egressSecret is the bound secret name as the proxy takes it, written
// as placeholder in requests.
func (ts *taskSecrets) egressSecret(name, placeholder string, hosts egress.Allowlist) egress.Secret {
	in := ts.inject[name]
	return egress.Secret{Name: name, Placeholder: placeholder, Value: ts.values[name], Hosts: hosts, InURL: in.URL, InBody: in.Body}
}

// instructions tell the model how its code uses secrets; "" without any.
func (ts *taskSecrets) instructions() string {
	var lines []string
	if len(ts.hosts) > 0 {
		var b strings.Builder
		b.WriteString("In run_shell and run_code, secrets stay placeholders: code never sees their values. Write {{secret:NAME}} literally into a header of an HTTPS request to one of the secret's hosts (e.g. Authorization: Bearer {{secret:NAME}}), and the network proxy puts the value in on the way out (answers come back with the value masked). A secret goes into headers only, unless listed below with url or body; a placeholder anywhere else refuses the request. Secret hosts:")
		for _, name := range slices.Sorted(maps.Keys(ts.hosts)) {
			fmt.Fprintf(&b, " %s: %s", name, patterns(ts.hosts[name]))
			if in := ts.inject[name]; !in.IsHeadersOnly() {
				fmt.Fprintf(&b, " (into %s)", strings.Join(in.Places(), ", "))
			}
			b.WriteString(";")
		}
		lines = append(lines, strings.TrimSuffix(b.String(), ";")+".")
	}
	var unbound []string
	for name := range ts.values {
		if _, ok := ts.hosts[name]; !ok {
			unbound = append(unbound, name)
		}
	}
	if len(unbound) > 0 && !ts.inSandbox {
		slices.Sort(unbound)
		lines = append(lines, "Secrets bound to no host ("+strings.Join(unbound, ", ")+") cannot be used in run_shell or run_code.")
	}
	return strings.Join(lines, "\n")
}

func patterns(l egress.Allowlist) string {
	var s []string
	for _, p := range l {
		s = append(s, p.String())
	}
	return strings.Join(s, ", ")
}

// args is agent.Config.SecretArgs.
func (ts *taskSecrets) args(tool string, args json.RawMessage) (json.RawMessage, error) {
	const op = "agent.secrets"
	if err := ts.checkRevoked(args); err != nil {
		return nil, err
	}
	switch tool {
	case toolRunShell, toolRunCode:
		put := map[string]string{}
		for _, name := range secret.Placeholders(args) {
			v, ok := ts.values[name]
			if !ok {
				continue // Substitute names it
			}
			if _, bound := ts.hosts[name]; bound {
				continue // the egress proxy puts it in, for its hosts only
			}
			if !ts.inSandbox {
				return nil, bulwark.Errorf(bulwark.PermissionDenied, op,
					"secret %s is not bound to any host, so code cannot use it: code sees only the placeholder, and the network proxy puts a secret's value into HTTPS requests to the hosts it is bound to. An operator can bind it with: bulwark secrets set %s --hosts HOST", name, name)
			}
			put[name] = v
		}
		if err := ts.unknown(args); err != nil {
			return nil, err
		}
		return secret.SubstituteSome(args, put)
	case toolFetchURL:
		host, err := fetchHost(args)
		if err != nil {
			return nil, err
		}
		put := map[string]string{}
		for _, name := range secret.Placeholders(args) {
			v, ok := ts.values[name]
			if !ok {
				continue
			}
			hosts, bound := ts.hosts[name]
			switch {
			case bound && hosts.Allows(host) && !fetchHTTPS(args):
				// As the proxy: a value never travels in clear text.
				return nil, bulwark.Errorf(bulwark.PermissionDenied, op,
					"secret %s is sent only over HTTPS; use an https:// URL", name)
			case bound && hosts.Allows(host) && !ts.inject[name].URL:
				// fetch_url puts a value only into the URL, which the
				// secret has not opted into (see egress.Secret).
				return nil, bulwark.Errorf(bulwark.PermissionDenied, op,
					"secret %s may be put into request headers only, and fetch_url has none; an operator can allow URLs with: bulwark secrets set %s --hosts %s --inject headers,url", name, name, strings.ReplaceAll(patterns(hosts), ", ", ","))
			case bound && hosts.Allows(host):
			case bound:
				return nil, bulwark.Errorf(bulwark.PermissionDenied, op,
					"secret %s may be sent only to %s, not to %s", name, patterns(hosts), host)
			case !ts.inSandbox:
				return nil, bulwark.Errorf(bulwark.PermissionDenied, op,
					"secret %s is not bound to any host, so it cannot be sent anywhere; an operator can bind it with: bulwark secrets set %s --hosts HOST", name, name)
			}
			put[name] = v
		}
		out, err := secret.Substitute(args, put)
		if err != nil {
			return nil, ts.unknownOr(args, err)
		}
		// A value must not move the URL to another host ("{{secret:X}}@host").
		if after, err := fetchHost(out); err != nil || after != host {
			return nil, bulwark.Errorf(bulwark.PermissionDenied, op, "a secret's value would change the host of the URL; put secrets only in its path or query")
		}
		return out, nil
	}
	return secret.Substitute(args, ts.values)
}

// unknown reports a placeholder of a secret that does not exist, or a
// malformed one, as Substitute words it.
func (ts *taskSecrets) unknown(args json.RawMessage) error {
	_, err := secret.Substitute(args, ts.values)
	return err
}

func (ts *taskSecrets) unknownOr(args json.RawMessage, err error) error {
	if e := ts.unknown(args); e != nil {
		return e
	}
	return err
}

// fetchHost is the host fetch_url's arguments name, read as egress reads
// hosts.
func fetchHost(args json.RawMessage) (string, error) {
	const op = "agent.secrets"
	var a struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(args, &a); err != nil {
		return "", bulwark.Errorf(bulwark.Invalid, op, "the fetch_url arguments are not valid JSON")
	}
	u, err := url.Parse(a.URL)
	if err != nil || u.Hostname() == "" {
		return "", bulwark.Errorf(bulwark.Invalid, op, "the URL given to fetch_url is not valid")
	}
	name, _, err := egress.ParseHost(u.Hostname())
	if err != nil || name == "" {
		return "", bulwark.Errorf(bulwark.PermissionDenied, op, "secrets are sent only to host names, not to %q", u.Hostname())
	}
	return name, nil
}

// fetchHTTPS reports whether fetch_url's arguments name an https URL.
func fetchHTTPS(args json.RawMessage) bool {
	var a struct {
		URL string `json:"url"`
	}
	if json.Unmarshal(args, &a) != nil {
		return false
	}
	u, err := url.Parse(strings.TrimSpace(a.URL))
	return err == nil && strings.EqualFold(u.Scheme, "https")
}
