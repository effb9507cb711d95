package transport

import (
	"bytes"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// writeRequest writes req into b as req.Write does, byte for byte: the
// requests adapters send (a method, a path, a few headers, a Pieces body
// or none) by writeHead and their body's parts, everything else by
// req.Write. req.Write costs a model turn seven allocations and its
// formatting, a transfer writer and a sorter of the headers
// (BENCHMARKS.md, issue 17). TestWriteRequest and FuzzWriteRequest hold
// the two to the same bytes.
func writeRequest(b *bytes.Buffer, req *http.Request) error {
	body, ok := plainBody(req)
	if !ok || !writeHead(b, req) {
		return req.Write(b)
	}
	if body != nil {
		body.WriteTo(b) // a bytes.Buffer takes all: its writes do not fail
	}
	if req.Body != nil {
		return req.Body.Close() // as req.Write: a Pieces and NoBody return nil
	}
	return nil
}

// plainBody reports whether req's body is one writeRequest writes itself:
// none, http.NoBody, or a Pieces not read yet of the request's
// ContentLength (any other length is req.Write's error to make, or makes
// it send the body chunked). p is the Pieces, or nil.
func plainBody(req *http.Request) (p *Pieces, ok bool) {
	switch body := req.Body.(type) {
	case nil:
		return nil, req.ContentLength == 0
	case *Pieces:
		return body, body.i == 0 && body.off == 0 && body.n > 0 && body.n == req.ContentLength
	}
	return nil, req.Body == http.NoBody
}

// reqWriteExclude are the header keys req.Write writes itself or drops,
// matched as it matches them (exactly, not canonicalized).
func reqWriteExclude(k string) bool {
	switch k {
	case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

// writeHead writes req's request line and header lines, and the blank
// line after them, into b as req.Write does, and reports true; or writes
// nothing and reports false for a request whose head it leaves to
// req.Write: one with a client trace (req.Write calls it), Close, a
// Transfer-Encoding or a Trailer, a host req.Write would rewrite or
// refuse (not ASCII, an IPv6 literal), a request URI req.Write refuses,
// or a header name or value req.Write would drop or clean of line breaks.
func writeHead(b *bytes.Buffer, req *http.Request) bool {
	if req.URL == nil || req.Close || len(req.TransferEncoding) > 0 || req.Trailer != nil ||
		httptrace.ContextClientTrace(req.Context()) != nil {
		return false
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !isASCII(host) || strings.HasPrefix(host, "[") {
		return false // Punycode or a zone to remove
	}
	if !httpguts.ValidHostHeader(host) {
		host = "" // what req.Write sends to a server, not a proxy
	}
	uri := req.URL.RequestURI()
	if hasCTL(uri) {
		return false
	}
	ua, hasUA := "Go-http-client/1.1", false
	if _, hasUA = req.Header["User-Agent"]; hasUA {
		ua = req.Header.Get("User-Agent")
	}
	var keys [16]string
	sorted := keys[:0]
	for k, vs := range req.Header {
		if reqWriteExclude(k) {
			continue
		}
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") {
				return false
			}
		}
		sorted = append(sorted, k)
	}
	if strings.ContainsAny(ua, "\r\n") {
		return false
	}
	slices.Sort(sorted)

	method := req.Method
	if method == "" {
		method = "GET"
	}
	line(b, method, " ", uri, " HTTP/1.1")
	line(b, "Host: ", host, "", "")
	if ua != "" {
		line(b, "User-Agent: ", textproto.TrimString(ua), "", "")
	}
	// req.Write's Content-Length: the body's (none and NoBody: 0), sent
	// when there is one, and for POST, PUT and PATCH, which servers
	// expect it on.
	if n := bodyLength(req); n > 0 || method == "POST" || method == "PUT" || method == "PATCH" {
		b.WriteString("Content-Length: ")
		b.Write(strconv.AppendInt(b.AvailableBuffer(), n, 10))
		b.WriteString("\r\n")
	}
	for _, k := range sorted {
		for _, v := range req.Header[k] {
			line(b, k, ": ", textproto.TrimString(v), "")
		}
	}
	b.WriteString("\r\n")
	return true
}

// line writes a, b, c and d and a line end.
func line(w *bytes.Buffer, a, b, c, d string) {
	w.WriteString(a)
	w.WriteString(b)
	w.WriteString(c)
	w.WriteString(d)
	w.WriteString("\r\n")
}

// bodyLength is the length of a body plainBody takes.
func bodyLength(req *http.Request) int64 {
	if req.Body == nil || req.Body == http.NoBody {
		return 0
	}
	return req.ContentLength
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// hasCTL reports whether s holds a control byte, which req.Write refuses
// in a request URI.
func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}
