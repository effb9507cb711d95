package main

import (
	"fmt"
	"io"

	"github.com/bulwark-agents/bulwark/mcpclient"
	"github.com/bulwark-agents/bulwark/skill"
)

// runtimeSettings are the operator's settings of a task runtime that
// 'bulwark serve' and 'bulwark mcp serve' both host, read from the
// environment once, the same way for both.
type runtimeSettings struct {
	files      fileSettings
	limits     tenantLimits
	inSandbox  bool // BULWARK_SECRETS_IN_SANDBOX
	servers    mcpclient.Config
	opSkills   []*skill.Skill
	autoResume bool
	injection  injectionSettings // BULWARK_TAINT, BULWARK_SPOTLIGHT
}

// readRuntimeSettings reads and checks them, writing to w the warnings
// and notes an operator should see at start.
func readRuntimeSettings(w io.Writer) (rs runtimeSettings, err error) {
	if err := checkSandboxSettings(); err != nil {
		return rs, err
	}
	if err := checkSearch(); err != nil {
		return rs, err
	}
	if rs.files, err = readFileSettings(); err != nil {
		return rs, err
	}
	if rs.limits, err = readTenantLimits(); err != nil {
		return rs, err
	}
	if rs.inSandbox, err = secretsInSandbox(); err != nil {
		return rs, err
	}
	if rs.inSandbox {
		fmt.Fprintln(w, secretsInSandboxWarning)
	}
	if rs.servers, err = operatorMCP(); err != nil {
		return rs, err
	}
	if len(rs.servers.Servers) > 0 {
		fmt.Fprintf(w, "bulwark: every task gets the MCP servers of %s: %s\n", mcpConfigVar, mcpNames(rs.servers))
	}
	if rs.opSkills, err = operatorSkills(nil); err != nil {
		return rs, err
	}
	if len(rs.opSkills) > 0 {
		fmt.Fprintf(w, "bulwark: every task is offered the %d skills of %s\n", len(rs.opSkills), skillsDirVar)
	}
	if rs.injection, err = readInjectionSettings(w, "", ""); err != nil {
		return rs, err
	}
	rs.autoResume, err = readResumeMode()
	return rs, err
}
