package taskenv

import (
	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
	"github.com/bulwark-agents/bulwark/skill"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/code"
	"github.com/bulwark-agents/bulwark/tool/delegate"
	"github.com/bulwark-agents/bulwark/tool/files"
	"github.com/bulwark-agents/bulwark/tool/interact"
	"github.com/bulwark-agents/bulwark/tool/memory"
	"github.com/bulwark-agents/bulwark/tool/web"
)

// Tools is the tool set of a task: the file tools, the code tools,
// fetch_url where domains are allowed (dial nil: the SSRF-checking egress
// dialer), finish, ask_user.
func Tools(domains []string, dial egress.DialFunc) (*tool.Registry, error) {
	tools := append(files.Tools(), code.Shell(), code.Code())
	if len(domains) > 0 {
		allow, err := egress.ParseAllowlist(domains)
		if err != nil {
			return nil, bulwark.E(bulwark.Invalid, "taskenv.Tools", "allowed domains: "+bulwark.ErrorMessage(err), err)
		}
		tools = append(tools, web.FetchURL(web.Config{Allow: allow, Dial: dial}))
	}
	return tool.NewRegistry(append(tools, delegate.Tool(), interact.Finish(), interact.AskUser())...), nil
}

// KnownTools is every tool a task may be given, whether or not a task is
// offered it (fetch_url only where domains are allowed, web_search where
// the operator configured a search backend): the names and
// targets policy rules are checked against when they load.
func KnownTools() []tool.Tool {
	return append(append(append(files.Tools(), code.Shell(), code.Code(), web.FetchURL(web.Config{}), web.WebSearch(web.SearchConfig{}), delegate.Tool(), interact.Finish(), interact.AskUser()),
		memory.Known()...), skill.Tools(nil)...)
}

// CheckPolicyRule refuses a tenant's policy rule that can never match.
func CheckPolicyRule(r bulwark.Rule) error { return tool.CheckRule(r, KnownTools()) }
