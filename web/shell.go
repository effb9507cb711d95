package web

import (
	"errors"
	"html"
	"strings"
)

// The page shell (templates/page.html) is HTML with these placeholders,
// each replaced by a value escaped for HTML (html.EscapeString: & < > " '),
// so that no value, the page's {id} from the URL included, can end an
// attribute or open an element:
//
//	{{title}}          the page's Title
//	{{assets}}         the asset base, /assets/VERSION
//	{{name}}           the page's Name (its module, <body data-page>)
//	{{id}}             ` data-id="ID"` when the path has an {id}, else nothing
//	{{current NAME}}   ` aria-current="page"` when the page's Section is NAME
//
// Every placeholder sits in text or in a double-quoted attribute of an
// element that is neither a script nor a style, where that escaping is
// enough. The package used html/template for this; it costs every bulwark
// command's start-up (text/template's reflection keeps every exported
// method of the binary, 3.7 MB, and its init), for five values
// (BENCHMARKS.md, "Start-up without html/template").
// TestShellMatchesHTMLTemplate compares both renderings.

// shellPart is a stretch of the shell: literal text, or a placeholder
// (slot) with its argument.
type shellPart struct {
	text string
	slot string // "" for text; title, assets, name, id or current
	arg  string // current's section
}

// parseShell splits a shell at its placeholders. An unknown or unclosed
// placeholder is an error, so that a typo cannot reach a page.
func parseShell(src string) ([]shellPart, error) {
	src = strings.TrimSpace(src)
	var parts []shellPart
	for src != "" {
		i := strings.Index(src, "{{")
		if i < 0 {
			parts = append(parts, shellPart{text: src})
			break
		}
		if i > 0 {
			parts = append(parts, shellPart{text: src[:i]})
		}
		j := strings.Index(src[i:], "}}")
		if j < 0 {
			return nil, errors.New("web: page shell: unclosed {{")
		}
		f := strings.Fields(src[i+2 : i+j])
		switch {
		case len(f) == 1 && (f[0] == "title" || f[0] == "assets" || f[0] == "name" || f[0] == "id"):
			parts = append(parts, shellPart{slot: f[0]})
		case len(f) == 2 && f[0] == "current":
			parts = append(parts, shellPart{slot: f[0], arg: f[1]})
		default:
			return nil, errors.New("web: page shell: unknown placeholder " + src[i:i+j+2])
		}
		src = src[i+j+2:]
	}
	return parts, nil
}

// renderShell writes the shell of d's page.
func renderShell(b *strings.Builder, parts []shellPart, d pageData) {
	for _, p := range parts {
		switch p.slot {
		case "":
			b.WriteString(p.text)
		case "title":
			b.WriteString(html.EscapeString(d.Title))
		case "assets":
			b.WriteString(html.EscapeString(d.Assets))
		case "name":
			b.WriteString(html.EscapeString(d.Name))
		case "id":
			if d.ID != "" {
				b.WriteString(` data-id="`)
				b.WriteString(html.EscapeString(d.ID))
				b.WriteString(`"`)
			}
		case "current":
			if d.Section == p.arg {
				b.WriteString(` aria-current="page"`)
			}
		}
	}
}
