package corpus

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
)

// generated adds the benign kinds built here: JSON API answers and HTML
// pages around the real documents already collected (keeping each
// document's split), and shell transcripts, logs, emails and articles
// about attacks from pools of parts written here, each part assigned to
// one split so no part is on both sides.
func (b *builder) generated(add func(kind, doc, text string) bool) error {
	b.jsonAPI(add)
	b.html(add)
	b.composed("shell", b.n(400), shellParts, 1, 4, "\n\n", add)
	b.logs(add)
	b.emails(add)
	b.composed("security-prose", b.n(300), securityParts, 2, 5, "\n\n", add)
	return nil
}

// hosts returns the benign texts of the given kinds collected so far, in
// order.
func (b *builder) hosts(kinds ...string) []hostDoc {
	var out []hostDoc
	for _, s := range Splits {
		for _, h := range b.docs[s] {
			for _, k := range kinds {
				if h.kind == k {
					out = append(out, h)
				}
			}
		}
	}
	return out
}

func jsonText(v any) string {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(v)
	return strings.TrimSpace(sb.String())
}

var people = []string{"alice", "bob", "carol", "dmitri", "eva", "farid", "gao", "hanna", "ines", "jonas", "keiko", "luis", "maria", "nadia", "olu", "pierre", "quinn", "rosa", "sven", "tomasz", "ulla", "viktor", "wen", "yusuf", "zoe"}

var domains = []string{"example.com", "example.org", "acme.test", "contoso.example", "northwind.example", "initech.example", "globex.example"}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// jsonAPI wraps package metadata and doc text in the answers of package
// registries, issue trackers and search APIs.
func (b *builder) jsonAPI(add func(kind, doc, text string) bool) {
	r := b.rng("gen/json-api")
	want := b.n(400)
	got := 0
	// Real package.json files.
	var pkgs []string
	for _, root := range b.cfg.NodeDirs {
		walk(root, func(p string) {
			if filepath.Base(p) == "package.json" && strings.Count(p[len(root):], "/node_modules/") == 0 {
				pkgs = append(pkgs, p)
			}
		})
	}
	sort.Strings(pkgs)
	r.Shuffle(len(pkgs), func(i, j int) { pkgs[i], pkgs[j] = pkgs[j], pkgs[i] })
	for _, p := range pkgs {
		if got >= want/4 {
			break
		}
		raw, ok := readText(p)
		if !ok || len(raw) < 200 {
			continue
		}
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		ans := map[string]any{"name": m["name"], "description": m["description"], "license": m["license"],
			"dist-tags": map[string]any{"latest": m["version"]}, "repository": m["repository"],
			"time": map[string]string{"modified": fmt.Sprintf("2025-%02d-%02dT%02d:%02d:11.000Z", 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60))}}
		if r.IntN(2) == 0 {
			ans["versions"] = map[string]any{fmt.Sprint(m["version"]): map[string]any{"dependencies": m["dependencies"], "scripts": m["scripts"], "engines": m["engines"]}}
		}
		if add("json-api", groupNode(p), cutRunes(jsonText(ans), 8000)) {
			got++
		}
	}
	// Real dpkg status stanzas, as a package search answer.
	if raw, ok := readText(b.cfg.DpkgStatus); ok {
		stanzas := strings.Split(string(raw), "\n\n")
		for i := 0; i+3 < len(stanzas) && got < want/2; i += 1 + r.IntN(6) {
			var results []map[string]any
			doc := ""
			for _, st := range stanzas[i : i+1+r.IntN(3)] {
				f := parseStanza(st)
				if f["Package"] == "" {
					continue
				}
				if doc == "" {
					doc = "doc:" + f["Package"]
				}
				res := map[string]any{"package": f["Package"], "version": f["Version"], "section": f["Section"],
					"maintainer": f["Maintainer"], "description": f["Description"], "installed_size_kb": f["Installed-Size"]}
				if d := f["Depends"]; d != "" {
					res["depends"] = strings.Split(d, ", ")
				}
				results = append(results, res)
			}
			if doc == "" {
				continue
			}
			if add("json-api", doc, jsonText(map[string]any{"count": len(results), "results": results})) {
				got++
			}
		}
	}
	// Issue trackers and search answers around collected doc text.
	hosts := b.hosts("usr-share-doc", "gomod-doc", "npm-readme", "man")
	for got < want && len(hosts) > 0 {
		h := pick(r, hosts)
		body := cutRunes(h.text, 200+r.IntN(3000))
		var v any
		switch r.IntN(3) {
		case 0:
			v = []map[string]any{{"number": 100 + r.IntN(9000), "state": pick(r, []string{"open", "closed"}),
				"title": firstLine(body), "user": map[string]string{"login": pick(r, people)},
				"labels": []string{pick(r, []string{"bug", "docs", "enhancement", "question"})}, "body": body,
				"comments": r.IntN(20), "created_at": fmt.Sprintf("2025-%02d-%02dT10:%02d:00Z", 1+r.IntN(12), 1+r.IntN(28), r.IntN(60))}}
		case 1:
			var results []map[string]string
			paras := strings.Split(body, "\n\n")
			for i, p := range paras {
				if i >= 5 {
					break
				}
				results = append(results, map[string]string{"title": firstLine(p), "url": fmt.Sprintf("https://docs.%s/%s/%d", pick(r, domains), strings.TrimPrefix(h.doc, "doc:"), i),
					"snippet": cutRunes(strings.Join(strings.Fields(p), " "), 300)})
			}
			v = map[string]any{"query": firstLine(body), "results": results}
		default:
			v = map[string]any{"id": fmt.Sprintf("%08x", r.Uint32()), "object": "document", "path": strings.TrimPrefix(h.doc, "doc:") + "/README",
				"content": body, "encoding": "utf-8", "size": len(body)}
		}
		if add("json-api", h.doc, jsonText(v)) {
			got++
		}
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return cutRunes(strings.Trim(s, "# =-*"), 80)
}

func parseStanza(st string) map[string]string {
	f := map[string]string{}
	for _, line := range strings.Split(st, "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, " ") {
			f[k] = v
		}
	}
	return f
}

var htmlComments = []string{
	"<!-- Google Tag Manager -->", "<!-- End Google Tag Manager -->", "<!-- TODO: update copyright year -->",
	"<!-- generated by hugo 0.121 -->", "<!-- nav: keep in sync with _data/menu.yml -->", "<!-- Begin cookie consent -->",
	"<!-- Please do not edit this file directly; edit the Markdown source instead. -->", "<!-- search index: docs -->",
}

// html wraps collected doc text in web page chrome.
func (b *builder) html(add func(kind, doc, text string) bool) {
	r := b.rng("gen/html")
	hosts := b.hosts("usr-share-doc", "gomod-doc", "npm-readme", "man")
	for got := 0; got < b.n(400) && len(hosts) > 0; {
		h := pick(r, hosts)
		var body strings.Builder
		inCode := false
		for _, line := range strings.Split(cutRunes(h.text, 200+r.IntN(5000)), "\n") {
			switch {
			case strings.HasPrefix(line, "```"):
				if inCode {
					body.WriteString("</code></pre>\n")
				} else {
					body.WriteString("<pre><code>")
				}
				inCode = !inCode
			case inCode:
				body.WriteString(escapeHTML(line) + "\n")
			case strings.HasPrefix(line, "#"):
				body.WriteString("<h2>" + escapeHTML(strings.TrimLeft(line, "# ")) + "</h2>\n")
			case strings.TrimSpace(line) == "":
				body.WriteString("</p>\n<p>")
			default:
				body.WriteString(escapeHTML(line) + "\n")
			}
		}
		if inCode {
			body.WriteString("</code></pre>\n")
		}
		title := escapeHTML(firstLine(h.text))
		site := pick(r, domains)
		var page strings.Builder
		fmt.Fprintf(&page, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n", title)
		if r.IntN(2) == 0 {
			page.WriteString(pick(r, htmlComments) + "\n<script async src=\"https://www.googletagmanager.com/gtag/js?id=G-XXXX\"></script>\n")
		}
		fmt.Fprintf(&page, "<link rel=\"stylesheet\" href=\"/css/site.css\">\n</head>\n<body>\n<nav><a href=\"/\">%s</a> | <a href=\"/docs/\">Docs</a> | <a href=\"/blog/\">Blog</a> | <a href=\"https://github.com/%s\">GitHub</a></nav>\n", site, pick(r, people))
		if r.IntN(3) == 0 {
			fmt.Fprintf(&page, "<img src=\"/img/logo.svg\" alt=\"%s logo\">\n", site)
		}
		fmt.Fprintf(&page, "<main>\n<h1>%s</h1>\n<p>%s</p>\n</main>\n", title, body.String())
		if r.IntN(3) == 0 {
			page.WriteString("<div id=\"cookie-banner\">We use cookies to improve your experience. <button>Accept</button></div>\n")
		}
		if r.IntN(2) == 0 {
			page.WriteString(pick(r, htmlComments) + "\n")
		}
		fmt.Fprintf(&page, "<footer>© 2025 %s · <a href=\"/privacy\">Privacy</a></footer>\n</body>\n</html>", site)
		if add("html", h.doc, page.String()) {
			got++
		}
	}
}

func escapeHTML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// composed builds n texts of kind from parts: each part is assigned to a
// split by its index, and a text joins lo..hi parts of one split.
func (b *builder) composed(kind string, n int, parts []string, lo, hi int, sep string, add func(kind, doc, text string) bool) {
	r := b.rng("gen/" + kind)
	bySplit := map[string][]int{}
	for i := range parts {
		s := splitOf(b.cfg.Seed, fmt.Sprintf("%s#%d", kind, i))
		bySplit[s] = append(bySplit[s], i)
	}
	for got, tries := 0, 0; got < n && tries < 20*n; tries++ {
		// Splits in proportion to their parts.
		i := r.IntN(len(parts))
		split := splitOf(b.cfg.Seed, fmt.Sprintf("%s#%d", kind, i))
		pool := bySplit[split]
		k := lo + r.IntN(hi-lo+1)
		var chosen []string
		doc := fmt.Sprintf("%s#%d", kind, i) // named for its first part, whose split it shares
		chosen = append(chosen, fill(parts[i], r))
		for _, j := range r.Perm(len(pool)) {
			if len(chosen) == k {
				break
			}
			if pool[j] != i {
				chosen = append(chosen, fill(parts[pool[j]], r))
			}
		}
		text := strings.Join(chosen, sep)
		if len(text) < 200 {
			continue
		}
		if add(kind, doc, cutRunes(text, 8000)) {
			got++
		}
	}
}

// fill replaces the {slots} of a template with values drawn from r.
func fill(t string, r *rand.Rand) string {
	for {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			return t
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			return t
		}
		name := t[i+1 : i+j]
		v, ok := slotValue(name, r)
		if !ok {
			// Not a slot (a brace in code): leave it and look further.
			return t[:i+j+1] + fill(t[i+j+1:], r)
		}
		t = t[:i] + v + t[i+j+1:]
	}
}

var slots = map[string][]string{
	"person":  people,
	"Person":  {"Alice Martin", "Bob Chen", "Carla Rossi", "Dmitri Ivanov", "Eva Schmidt", "Farid Haddad", "Gao Lin", "Hanna Berg", "Inès Dubois", "Jonas Weber", "Keiko Sato", "Luis García", "Maria Silva"},
	"domain":  domains,
	"pkg":     {"ripgrep", "jq", "postgresql-16", "nginx", "redis-server", "golang-1.22", "nodejs", "python3-requests", "curl", "git", "htop", "tmux"},
	"repo":    {"acme/api", "acme/web", "initech/tps-reports", "globex/billing", "northwind/shop", "contoso/infra"},
	"ver":     {"1.2.3", "2.0.1", "0.9.14", "3.4.0", "1.18.2", "5.1.0-rc1", "0.3.7"},
	"num":     {"3", "7", "12", "42", "128", "256", "1024", "15", "99"},
	"day":     {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"},
	"date":    {"2025-03-14", "2025-06-02", "2025-09-30", "2025-11-18", "2026-01-07"},
	"time":    {"09:30", "10:00", "14:15", "16:45"},
	"project": {"the billing migration", "Q3 roadmap", "the onboarding flow", "the data warehouse", "the mobile release", "the audit"},
	"sha":     {"3f9c2ab", "a41d7e0", "9be01c4", "c0ffee1", "77e1d2a"},
	"host":    {"web-01", "db-02", "worker-3", "api-gw", "build-7"},
	"ip":      {"10.0.3.17", "192.168.1.24", "172.16.4.9", "203.0.113.7", "198.51.100.23"},
	"path":    {"/api/v1/users", "/healthz", "/login", "/static/app.js", "/api/v2/orders?page=2", "/metrics"},
	"status":  {"200", "200", "200", "304", "404", "500", "201"},
	"ms":      {"12", "48", "3", "230", "1041", "7"},
	"cve":     {"CVE-2024-3094", "CVE-2023-44487", "CVE-2024-6387", "CVE-2021-44228", "CVE-2025-21613"},
	"product": {"the support chatbot", "our coding assistant", "the email summariser", "the browsing agent", "the RAG search"},
}

func slotValue(name string, r *rand.Rand) (string, bool) {
	vs, ok := slots[name]
	if !ok {
		return "", false
	}
	return pick(r, vs), true
}

// logs cuts the machine's own logs and generates service logs.
func (b *builder) logs(add func(kind, doc, text string) bool) {
	r := b.rng("gen/log")
	want := b.n(400)
	got := 0
	for _, name := range []string{"dpkg.log", "apt/history.log", "alternatives.log", "apt/term.log", "fontconfig.log"} {
		p := filepath.Join(b.cfg.LogDir, name)
		raw, ok := readText(p)
		if !ok {
			continue
		}
		lines := strings.Split(string(raw), "\n")
		for k := 0; k < 30 && got < want/3; k++ {
			start := r.IntN(len(lines))
			n := 3 + r.IntN(60)
			if start+n > len(lines) {
				n = len(lines) - start
			}
			text := strings.TrimSpace(strings.Join(lines[start:start+n], "\n"))
			if len(text) >= 200 && add("log", "log:"+name, cutRunes(text, 8000)) {
				got++
			}
		}
	}
	var gen []string
	for i := range logFormats {
		gen = append(gen, fmt.Sprint(i))
	}
	for got < want {
		i := r.IntN(len(logFormats))
		var lines []string
		sec := r.IntN(3600)
		for k := 0; k < 3+r.IntN(40); k++ {
			sec += r.IntN(30)
			ts := fmt.Sprintf("2025-11-18T%02d:%02d:%02dZ", 8+sec/3600, (sec/60)%60, sec%60)
			lines = append(lines, strings.ReplaceAll(fill(pick(r, logFormats[i]), r), "{ts}", ts))
		}
		if add("log", fmt.Sprintf("log#%d", i), strings.Join(lines, "\n")) {
			got++
		}
	}
	_ = gen
}

var logFormats = [][]string{
	{`{ip} - - [{ts}] "GET {path} HTTP/1.1" {status} {num} "-" "Mozilla/5.0 (X11; Linux x86_64)"`, `{ip} - - [{ts}] "POST {path} HTTP/2.0" {status} {num} "-" "curl/8.5.0"`},
	{`{"level":"info","ts":"{ts}","msg":"request served","method":"GET","path":"{path}","status":{status},"duration_ms":{ms}}`, `{"level":"warn","ts":"{ts}","msg":"slow query","table":"orders","duration_ms":{ms}}`, `{"level":"error","ts":"{ts}","msg":"upstream timeout","host":"{host}","retry":{num}}`},
	{`{ts} {host} systemd[1]: Started Daily apt download activities.`, `{ts} {host} sshd[{num}]: Accepted publickey for {person} from {ip} port 52344 ssh2`, `{ts} {host} CRON[{num}]: ({person}) CMD (/usr/local/bin/backup.sh --quiet)`, `{ts} {host} kernel: [ {num}.004512] EXT4-fs (sda1): re-mounted. Opts: errors=remount-ro`},
	{`time={ts} level=INFO msg="job finished" job=nightly-export rows={num} took={ms}ms`, `time={ts} level=WARN msg="token expires soon" subject={person} days_left={num}`, `time={ts} level=DEBUG msg="cache miss" key=user:{num}`},
	{`{ts} [build-{num}] Step {num}/12 : RUN go build -o /out/app ./cmd/app`, `{ts} [build-{num}] ---> Using cache`, `{ts} [build-{num}] npm WARN deprecated inflight@1.0.6: This module is not supported`, `{ts} [build-{num}] ok  	{repo}/internal/store	0.{ms}s`},
	{`{ts} ERROR [main] panic: runtime error: invalid memory address or nil pointer dereference`, `{ts} ERROR [main] goroutine {num} [running]:`, `{ts} ERROR [main] main.(*Server).handle(0xc000{num}, {0x0, 0x0})`, `{ts} INFO  [main] restarting worker {host} after crash (attempt {num})`},
}
