package web

// This file reads the answers of the search backends and turns them into
// the text web_search returns. Everything in an answer is outside input:
// fields may be missing, of the wrong type, huge, or hold markup, control
// characters and URLs of any scheme.

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// rawResult is a result as the backends spell it: SearXNG and Tavily put
// the snippet in content, Brave in description.
type rawResult struct {
	Title       json.RawMessage `json:"title"`
	URL         json.RawMessage `json:"url"`
	Content     json.RawMessage `json:"content"`
	Description json.RawMessage `json:"description"`
}

// parseResults reads the results of backend's answer body. An answer
// without its list of results is an error; a result whose fields are not
// strings keeps only the ones that are.
func parseResults(backend string, body []byte) ([]SearchResult, error) {
	var list []rawResult
	switch backend {
	case Brave:
		var a struct {
			Web *struct {
				Results []rawResult `json:"results"`
			} `json:"web"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return nil, err
		}
		if a.Web == nil {
			if a.Type != "search" {
				return nil, errors.New("no web results and no search type")
			}
			return nil, nil // a search that found no web results
		}
		list = a.Web.Results
	default: // SearXNG, Tavily
		var a struct {
			Results *[]rawResult `json:"results"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return nil, err
		}
		if a.Results == nil {
			return nil, errors.New("no results field")
		}
		list = *a.Results
	}
	out := make([]SearchResult, 0, len(list))
	for _, r := range list {
		snippet := jsonString(r.Content)
		if snippet == "" {
			snippet = jsonString(r.Description)
		}
		out = append(out, SearchResult{Title: jsonString(r.Title), URL: jsonString(r.URL), Snippet: snippet})
	}
	return out, nil
}

// jsonString is raw as a string, or "" when it is not one.
func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// clean returns at most limit results fit to show: each with an absolute
// http(s) URL (others are dropped, as are repeats), title and snippet as
// plain text on one line, cut to a bounded length.
func clean(results []SearchResult, limit int) []SearchResult {
	var out []SearchResult
	seen := map[string]bool{}
	for _, r := range results {
		if len(out) == limit {
			break
		}
		u := resultURL(r.URL)
		if u == "" || seen[u] {
			continue
		}
		seen[u] = true
		title := plainText(r.Title, maxTitle)
		if title == "" {
			title = "(no title)"
		}
		out = append(out, SearchResult{Title: title, URL: u, Snippet: plainText(r.Snippet, maxSnippet)})
	}
	return out
}

// resultURL is s as an absolute http or https URL, re-serialised so that
// it holds no white space or control characters; "" for anything else.
func resultURL(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxResultURL || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ""
	}
	out := u.String()
	if len(out) > maxResultURL {
		return ""
	}
	return out
}

// plainText is s without markup (Brave marks the query's words with
// <strong>), entities decoded, white space and control characters folded
// to single spaces, cut to max runes.
func plainText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.ContainsAny(s, "<&") {
		s = html.UnescapeString(stripTags(s))
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max-1]) + "…"
	}
	return s
}

// stripTags drops what looks like a tag: "<" then a letter, "/" or "!",
// up to the next ">".
func stripTags(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 || i+1 >= len(s) {
			b.WriteString(s)
			return b.String()
		}
		c := s[i+1]
		if !(c == '/' || c == '!' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			b.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteByte(' ')
		s = s[i+j+1:]
	}
}

// formatResults is what web_search returns for query.
func formatResults(query, host string, results []SearchResult) string {
	var b strings.Builder
	from := ""
	if host != "" {
		from = " from " + host
	}
	if len(results) == 0 {
		fmt.Fprintf(&b, "No results%s for %q. Try other words.", from, query)
		return b.String()
	}
	fmt.Fprintf(&b, "Search results%s for %q (%d):\n", from, query, len(results))
	for i, r := range results {
		fmt.Fprintf(&b, "\n%d. %s\n   %s\n", i+1, r.Title, r.URL)
		if r.Snippet != "" {
			fmt.Fprintf(&b, "   %s\n", r.Snippet)
		}
	}
	return b.String()
}
