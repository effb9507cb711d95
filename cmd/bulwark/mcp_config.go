package main

import (
	"net/url"
	"os"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/mcpclient"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
)

// The MCP servers of tasks come from three places: the operator's
// BULWARK_MCP_CONFIG (every task of bulwark run and bulwark serve), the
// files of bulwark run --mcp, and a tenant's settings (bulwark serve). The
// first two are the operator's, trusted (a URL may be on loopback, a
// server may be given extra read-only paths and commands); a tenant's
// are not.

// mcpConfigVar names the operator's MCP servers file.
const mcpConfigVar = "BULWARK_MCP_CONFIG"

// operatorMCP reads the file BULWARK_MCP_CONFIG names, trusted; none
// without it.
func operatorMCP() (mcpclient.Config, error) {
	path := env(mcpConfigVar)
	if path == "" {
		return mcpclient.Config{}, nil
	}
	cfg, err := readMCP(path)
	if err != nil {
		return mcpclient.Config{}, usagef("%s=%s: %s", mcpConfigVar, path, bulwark.ErrorMessage(err))
	}
	return cfg, nil
}

// runMCP is the MCP servers of a bulwark run: the operator's and those of
// each --mcp file, all trusted. A name in two of them is bad usage.
func runMCP(files []string) (mcpclient.Config, error) {
	cfg, err := operatorMCP()
	if err != nil {
		return cfg, err
	}
	for _, f := range files {
		more, err := readMCP(f)
		if err == nil {
			cfg, err = cfg.Merge(more)
		}
		if err != nil {
			return cfg, usagef("--mcp %s: %s", f, bulwark.ErrorMessage(err))
		}
	}
	return cfg, nil
}

// readMCP reads an operator's mcpServers file.
func readMCP(path string) (mcpclient.Config, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		return mcpclient.Config{}, bulwark.E(bulwark.Invalid, "mcp.config", "cannot read the file: "+errText(err), err)
	}
	return mcpclient.Parse(doc, true)
}

// tenantMCP is the MCP servers of a served task: the operator's merged
// with the tenant's settings (untrusted: a URL must be a public host of
// the tenant's allowlist, no extra paths or commands). A tenant's server
// named like one of the operator's is refused.
func tenantMCP(operator mcpclient.Config, st bulwark.Settings) (mcpclient.Config, error) {
	if len(st.MCP) == 0 || strings.TrimSpace(string(st.MCP)) == "null" {
		return operator, nil
	}
	mine, err := mcpclient.Parse(st.MCP, false)
	if err != nil {
		return mcpclient.Config{}, bulwark.E(bulwark.Invalid, "mcp.config", "the MCP servers of the settings: "+bulwark.ErrorMessage(err), err)
	}
	cfg, err := operator.Merge(mine)
	if err != nil {
		return mcpclient.Config{}, bulwark.E(bulwark.Invalid, "mcp.config", "the MCP servers of the settings: "+bulwark.ErrorMessage(err), err)
	}
	return cfg, nil
}

// mcpNames lists the servers of cfg, for people.
func mcpNames(cfg mcpclient.Config) string {
	var names []string
	for _, s := range cfg.Servers {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

// hasStdio reports whether cfg has a server run from a command.
func hasStdio(cfg mcpclient.Config) bool {
	for _, s := range cfg.Servers {
		if s.Command != "" {
			return true
		}
	}
	return false
}

// checkTenantMCP is the server's check of a tenant's MCP servers when its
// settings are saved (server.Config.CheckMCP): the document parses as a
// tenant's (no extra paths or commands), and every URL server is HTTPS to
// a host of the allowlist saved with it, so a mistake is refused at once
// rather than failing each task later. Connecting checks it all again
// (addresses at each dial and redirect).
func checkTenantMCP(doc []byte, allowedDomains []string) error {
	const op = "checkTenantMCP"
	cfg, err := mcpclient.Parse(doc, false)
	if err != nil {
		return err
	}
	allow, err := egress.ParseAllowlist(allowedDomains)
	if err != nil {
		return bulwark.E(bulwark.Invalid, op, "allowed_domains: "+bulwark.ErrorMessage(err), err)
	}
	for _, s := range cfg.Servers {
		if s.URL == "" {
			continue
		}
		u, err := url.Parse(s.URL)
		if err != nil {
			return bulwark.Errorf(bulwark.Invalid, op, "server %s: the url does not parse", s.Name)
		}
		if u.Scheme != "https" {
			return bulwark.Errorf(bulwark.Invalid, op, "server %s: a tenant's MCP server must use https", s.Name)
		}
		if !allow.Allows(u.Hostname()) {
			return bulwark.Errorf(bulwark.Invalid, op, "server %s: its host is not in allowed_domains (add it there, or use another server)", s.Name)
		}
	}
	return nil
}
