package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark/secret"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runRedact(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet("redact", `Usage: bulwark redact [--secret-file F]... [--no-patterns] [--bench] < IN > OUT

Copies stdin to stdout with every registered secret value and every
secret-looking string (API keys, tokens, private keys) masked.

Example:
  bulwark redact --secret-file prod.env < app.log > app-clean.log`)
	var files stringList
	fs.Var(&files, "secret-file", "file of `NAME=VALUE` lines whose values are masked (repeatable)")
	noPatterns := fs.Bool("no-patterns", false, "mask only registered values, not secret-looking strings")
	bench := fs.Bool("bench", false, "read all of stdin, redact it repeatedly and print the throughput instead of the text")
	if err := fs.parse(args, s); err != nil {
		return fail(s, err)
	}
	if fs.NArg() > 0 {
		return fail(s, usagef("redact: unexpected argument %q", fs.Arg(0)))
	}
	r := secret.NewRedactor()
	r.SetDetection(!*noPatterns)
	for _, f := range files {
		if err := loadSecretFile(r, f); err != nil {
			return fail(s, err)
		}
	}
	if *bench {
		if err := benchRedact(ctx, r, s); err != nil {
			return fail(s, err)
		}
		return exitOK
	}
	w := r.Writer(s.out)
	if _, err := io.Copy(w, s.in); err != nil {
		w.Close()
		return fail(s, fmt.Errorf("redact: %w", err))
	}
	if err := w.Close(); err != nil {
		return fail(s, fmt.Errorf("redact: %w", err))
	}
	return exitOK
}

// loadSecretFile registers the values of a file of NAME=VALUE lines;
// blank lines and lines starting with '#' are skipped. Errors name the
// line, never its value.
func loadSecretFile(r *secret.Redactor, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("redact: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return usagef("redact: %s:%d: want NAME=VALUE", path, n)
		}
		if len(value) < secret.MinSecretLen {
			return usagef("redact: %s:%d: the value of %s is shorter than %d bytes and cannot be masked safely",
				path, n, name, secret.MinSecretLen)
		}
		r.Add(name, value)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("redact: read %s: %w", path, err)
	}
	return nil
}

// benchRedact measures the redactor on stdin: once as one string, once
// through the streaming writer in 32 KiB writes, each repeated for about a
// second. It returns nil after printing the figures.
func benchRedact(ctx context.Context, r *secret.Redactor, s stdio) error {
	data, err := io.ReadAll(s.in)
	if err != nil {
		return fmt.Errorf("redact: %w", err)
	}
	if len(data) == 0 {
		return usagef("redact: --bench needs text on stdin")
	}
	measure := func(name string, run func()) {
		start := time.Now()
		n := 0
		for n == 0 || time.Since(start) < time.Second && ctx.Err() == nil {
			run()
			n++
		}
		d := time.Since(start)
		mb := float64(n*len(data)) / (1 << 20)
		fmt.Fprintf(s.out, "%-7s %8.1f MiB/s  (%d × %d bytes in %v)\n", name, mb/d.Seconds(), n, len(data), d.Round(time.Millisecond))
	}
	masks := bytes.Count(r.Bytes(data), []byte("[REDACTED:"))
	fmt.Fprintf(s.out, "input %d bytes, %d masks, pattern detection %v\n", len(data), masks, r.Detection())
	measure("string", func() { r.Bytes(data) })
	measure("writer", func() {
		w := r.Writer(io.Discard)
		for p := data; len(p) > 0; {
			k := min(len(p), 32<<10)
			w.Write(p[:k])
			p = p[k:]
		}
		w.Close()
	})
	return nil
}
