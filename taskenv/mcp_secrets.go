package taskenv

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/mcpclient"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
	"github.com/bulwark-agents/bulwark/secret"
)

// A secret bound to hosts (bulwark secrets set NAME --hosts ...) keeps its
// binding in an MCP server's config, as in run_shell and fetch_url:
//
//   - in the headers of an HTTP server, it is sent only where the server's
//     URL is HTTPS on one of the secret's hosts; elsewhere the server is
//     refused;
//   - in the env of a stdio server, the server never holds the value: its
//     env holds a stand-in token, which the egress proxy of the server's
//     sandbox replaces with the value in HTTPS requests to the secret's
//     hosts only (as it puts placeholders in for sandboxed code).
//
// A secret bound to no host goes where the config (written by the
// operator, or by the tenant who owns the secret) puts it.

// bindMCPSecrets returns cfg with the bound secrets of its stdio servers'
// env replaced by stand-in tokens, and the intercept that puts them back
// in (nil when there are none). cfg itself is not changed: an operator's
// config is shared by every task.
func bindMCPSecrets(cfg mcpclient.Config, ts *taskSecrets) (mcpclient.Config, *egress.Intercept, error) {
	const op = "taskenv.mcp"
	out := mcpclient.Config{Servers: slices.Clone(cfg.Servers)}
	tokens := map[string]string{} // secret name: its stand-in
	for i, sv := range out.Servers {
		for _, k := range slices.Sorted(maps.Keys(sv.Headers)) {
			for _, name := range placeholders(sv.Headers[k]) {
				hosts, bound := ts.hosts[name]
				if !bound {
					continue
				}
				u, err := url.Parse(sv.URL)
				if err != nil || !strings.EqualFold(u.Scheme, "https") || !hosts.Allows(strings.ToLower(u.Hostname())) {
					return cfg, nil, bulwark.Errorf(bulwark.PermissionDenied, op,
						"MCP server %s, header %s: the secret %s may be sent only over HTTPS to %s", sv.Name, k, name, patterns(hosts))
				}
			}
		}
		if len(sv.Env) == 0 {
			continue
		}
		env := maps.Clone(sv.Env)
		for k, v := range env {
			for _, name := range placeholders(v) {
				if _, bound := ts.hosts[name]; !bound {
					continue
				}
				tok, ok := tokens[name]
				if !ok {
					tok = standIn(name)
					tokens[name] = tok
				}
				v = strings.ReplaceAll(v, secret.Placeholder(name), tok)
			}
			env[k] = v
		}
		out.Servers[i].Env = env
	}
	if len(tokens) == 0 {
		return out, nil, nil
	}
	var list []egress.Secret
	for _, name := range slices.Sorted(maps.Keys(tokens)) {
		list = append(list, ts.egressSecret(name, tokens[name], ts.hosts[name]))
	}
	ic, err := egress.NewIntercept(list)
	if err != nil {
		return cfg, nil, bulwark.E(bulwark.Internal, op, "the MCP servers' egress proxy cannot be prepared for their secrets", err)
	}
	return out, ic, nil
}

// placeholders are the names of the secrets the {{secret:NAME}}
// placeholders of v name.
func placeholders(v string) []string {
	if !strings.Contains(v, "{{secret:") {
		return nil
	}
	b, _ := json.Marshal(v)
	return secret.Placeholders(b)
}

// standIn is the token that stands for the secret name in a stdio
// server's env: unguessable, so that nothing but the config puts it in a
// request.
func standIn(name string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return "bulwark-secret-" + name + "-" + hex.EncodeToString(b)
}
