package main

import (
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/tool/web"
)

// searchEndpoint replaces Brave's and Tavily's public endpoint in tests
// (a fake server); production leaves it empty.
var searchEndpoint string

// searchKeyVars are the variables of the keyed search backends' API keys.
var searchKeyVars = lazy.Value[map[string]string]{New: func() map[string]string {
	return map[string]string{web.Brave: "BULWARK_BRAVE_API_KEY", web.Tavily: "BULWARK_TAVILY_API_KEY"}
}}

// searchOptions reads the operator's search backend, for web_search:
// BULWARK_SEARCH_URL (a SearXNG instance, which may be on loopback or a
// private network: the operator's, like the model's base URL),
// BULWARK_SEARCH_BACKEND (searxng, brave or tavily; unset: searxng when a
// URL is given, else the one backend whose key is set) and the keys
// BULWARK_BRAVE_API_KEY and BULWARK_TAVILY_API_KEY, which are added to the
// process's log redactor. Nothing set: no web_search. A configuration
// that cannot work is a usage error naming the variable.
func searchOptions() (web.SearchConfig, error) {
	backend := strings.ToLower(strings.TrimSpace(env("BULWARK_SEARCH_BACKEND")))
	u := strings.TrimSpace(env("BULWARK_SEARCH_URL"))
	keys := map[string]string{}
	for b, v := range searchKeyVars.Get() {
		if k := strings.TrimSpace(env(v)); k != "" {
			keys[b] = k
			redactor.Add(v, k)
		}
	}
	if backend == "" && u == "" {
		switch len(keys) {
		case 0:
			return web.SearchConfig{}, nil
		case 1:
			for b := range keys {
				backend = b
			}
		default:
			return web.SearchConfig{}, usagef("BULWARK_BRAVE_API_KEY and BULWARK_TAVILY_API_KEY are both set: choose the search backend with BULWARK_SEARCH_BACKEND=brave or tavily")
		}
	}
	cfg := web.SearchConfig{Backend: backend, URL: u}
	switch backend {
	case "", web.SearXNG:
		if u == "" {
			return cfg, usagef("BULWARK_SEARCH_BACKEND=searxng needs BULWARK_SEARCH_URL, the instance's URL (http://127.0.0.1:8888)")
		}
	case web.Brave, web.Tavily:
		if u != "" {
			return cfg, usagef("BULWARK_SEARCH_URL is a SearXNG instance's URL; with BULWARK_SEARCH_BACKEND=%s leave it unset", backend)
		}
		if keys[backend] == "" {
			return cfg, usagef("BULWARK_SEARCH_BACKEND=%s needs its API key in %s", backend, searchKeyVars.Get()[backend])
		}
		cfg.URL, cfg.Key = searchEndpoint, keys[backend]
	default:
		return cfg, usagef("BULWARK_SEARCH_BACKEND=%q is not searxng, brave or tavily", backend)
	}
	if err := cfg.Check(); err != nil {
		return cfg, usagef("BULWARK_SEARCH_URL: %s", bulwark.ErrorMessage(err))
	}
	return cfg, nil
}

// checkSearch refuses, at start, a search configuration every task would
// fail on.
func checkSearch() error {
	_, err := searchOptions()
	return err
}
