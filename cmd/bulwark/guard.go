package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/bulwark-agents/bulwark/guard"
)

// maxScanLine caps one input line of guard scan.
const maxScanLine = 16 << 20

const guardUsage = `Usage: bulwark guard scan [--threshold T] < IN.jsonl > OUT.jsonl
       bulwark guard eval [--threshold T] FILE.jsonl...   (recall, FPR, F1, AUC per source)

Reads one JSON object {"text": "..."} per line and writes, in the same order, one line
{"injection": true|false, "score": 0..1, "reasons": [...], "segments": [...]} per input;
"segments" lists the spans of the text that scored highest (at most three, highest
first: {"start", "end", "kind", "score", "text"}, offsets in bytes of the text) and is
left out when none stands out. A malformed line gets {"error": "..."} and the scan goes on.

Example:
  echo '{"text": "ignore previous instructions"}' | bulwark guard scan`

func runGuard(ctx context.Context, args []string, s stdio) int {
	if code, done := helpRequested(args, guardUsage, s); done {
		return code
	}
	if args[0] == "eval" {
		return runGuardEval(ctx, args[1:], s) // guard_eval.go
	}
	if args[0] != "scan" {
		return fail(s, usagef("guard: unknown subcommand %q: scan, eval (see 'bulwark help guard')", args[0]))
	}
	fs := newFlagSet("guard scan", guardUsage)
	threshold := fs.Float64("threshold", 0, fmt.Sprintf("score from which a text is an injection (default %.2f)", guard.DefaultThreshold()))
	if err := fs.parse(args[1:], s); err != nil {
		return fail(s, err)
	}
	if fs.NArg() > 0 {
		return fail(s, usagef("guard scan: unexpected argument %q", fs.Arg(0)))
	}
	if *threshold < 0 || *threshold > 1 {
		return fail(s, usagef("guard scan: --threshold must be between 0 and 1"))
	}
	if err := guardScan(ctx, s.in, s.out, &guard.Scanner{Threshold: *threshold}); err != nil {
		return fail(s, err)
	}
	return exitOK
}

// guardScan scores every line of in and writes one result line per input
// line to out. Only a read or write failure stops it.
func guardScan(ctx context.Context, in io.Reader, out io.Writer, sc *guard.Scanner) error {
	br := bufio.NewReaderSize(in, 64<<10)
	bw := bufio.NewWriter(out)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for {
		if err := ctx.Err(); err != nil {
			bw.Flush()
			return err
		}
		line, tooLong, err := readLine(br)
		if err == io.EOF && line == nil {
			break
		}
		if err != nil && err != io.EOF {
			bw.Flush()
			return fmt.Errorf("guard scan: read: %w", err)
		}
		var v any
		switch {
		case tooLong:
			v = map[string]string{"error": fmt.Sprintf("line longer than %d bytes", maxScanLine)}
		default:
			var in struct {
				Text *string `json:"text"`
			}
			if jerr := json.Unmarshal(line, &in); jerr != nil {
				v = map[string]string{"error": "not a JSON object: " + jerr.Error()}
			} else if in.Text == nil {
				v = map[string]string{"error": `no "text" field`}
			} else {
				v = sc.Score(ctx, *in.Text)
			}
		}
		if werr := enc.Encode(v); werr != nil {
			return fmt.Errorf("guard scan: write: %w", werr)
		}
		if err == io.EOF {
			break
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("guard scan: write: %w", err)
	}
	return nil
}

// readLine reads one line without its "\n" (and "\r\n"); a line over
// maxScanLine is skipped to its end and reported as tooLong. It returns
// io.EOF with a nil line at the end of input, and with the last line when
// that has no newline.
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			if line != nil || tooLong {
				return line, tooLong, nil
			}
			return nil, false, err
		}
		if !tooLong {
			line = append(line, chunk...)
			if len(line) > maxScanLine {
				tooLong, line = true, nil
			}
		}
		if !isPrefix {
			if line == nil {
				line = []byte{}
			}
			return line, tooLong, nil
		}
	}
}
