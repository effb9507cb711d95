package export

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/bulwark-agents/bulwark/audit"
)

// CheckReport says how an export compares with the chains.
type CheckReport struct {
	Records    int // exported records found in their chain, unchanged
	Chains     int // chains the export holds records of
	Duplicates int // records exported twice (a write retried after the peer had it)
	// Missing counts the records of each chain, between the first and the
	// last it exported, that are not in the export: dropped when the
	// queue was full, or appended by another node (each node exports
	// what it appends).
	Missing uint64
	// After counts the records of each chain newer than the last it
	// exported: not exported yet, dropped, appended by another node, or
	// cut from the copy (the newest records, the ones an intruder would
	// remove first).
	After uint64
}

// Check reads an export (JSON lines as Exporter writes them to stdout or
// a file; or syslog messages as a collector stored them, one a line) and checks every record
// against the chains of dir: a syslog header as Message writes it must be
// its record's (severity, time, MSGID), the line must be a record in canonical
// form, its hash the one its fields give, the record at its place in its
// chain must carry the same hash (which covers every field and the hash
// before), and each chain's records must come in the chain's order. It
// returns an error naming the first line that fails. Verify the chains
// themselves first (audit.VerifyAll): Check trusts what they hold.
func Check(ctx context.Context, exported io.Reader, dir audit.Backend) (CheckReport, error) {
	var rep CheckReport
	byChain := map[string][]audit.Record{}
	sc := bufio.NewScanner(exported)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var header []byte
		if i := bytes.Index(line, []byte(` - {"seq":`)); i > 0 && !bytes.HasPrefix(line, []byte("{")) {
			header, line = line[:i], line[i+3:] // a syslog message as a collector wrote it down: its JSON
		}
		r, err := audit.DecodeRecord(line)
		if err != nil {
			return rep, fmt.Errorf("line %d: %w", n, err)
		}
		if err := checkHeader(header, r, line); err != nil {
			return rep, fmt.Errorf("line %d: %w", n, err)
		}
		if audit.ComputeHash(&r) != r.Hash {
			return rep, fmt.Errorf("line %d: the record's hash is not the hash of its fields", n)
		}
		recs := byChain[r.TenantID]
		if k := len(recs); k > 0 {
			last := recs[k-1]
			switch {
			case r.Seq == last.Seq && r.Hash == last.Hash:
				rep.Duplicates++
				continue
			case r.Seq <= last.Seq:
				return rep, fmt.Errorf("line %d: record %d of %s comes after record %d: out of the chain's order", n, r.Seq, chainName(r.TenantID), last.Seq)
			}
			rep.Missing += r.Seq - last.Seq - 1
		}
		byChain[r.TenantID] = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("read the export: %w", err)
	}
	names := make([]string, 0, len(byChain))
	for c := range byChain {
		names = append(names, c)
	}
	slices.Sort(names)
	for _, c := range names {
		n, after, err := checkChain(ctx, dir, c, byChain[c])
		rep.Records += n
		rep.After += after
		if err != nil {
			return rep, err
		}
		rep.Chains++
	}
	return rep, nil
}

// checkHeader checks the RFC 5424 header of a syslog message (as Message
// writes it, from "<PRI>" to the MSGID) against its record: the
// severity, the time and the MSGID a SIEM alerts on must be the record's,
// since the hash covers only the JSON. The host, app name and process id
// are the sender's and are taken as they are. A header of another form (a
// collector that rewrote it) is not checked.
func checkHeader(header []byte, r audit.Record, line []byte) error {
	if !bytes.HasPrefix(header, []byte("<")) {
		return nil
	}
	f := strings.Split(string(header), " ")
	if len(f) != 6 {
		return fmt.Errorf("record %d of %s: the syslog header %q is not as bulwark writes it", r.Seq, chainName(r.TenantID), header)
	}
	pid, err := strconv.Atoi(f[4])
	if err != nil {
		return fmt.Errorf("record %d of %s: the syslog header %q is not as bulwark writes it", r.Seq, chainName(r.TenantID), header)
	}
	if want := Message(r, line, f[2], f[3], pid); !bytes.HasPrefix(want, append(header, " - "...)) {
		return fmt.Errorf("record %d of %s: the syslog header %q is not the record's (severity, time or action changed)", r.Seq, chainName(r.TenantID), header)
	}
	return nil
}

// checkChain checks recs, in increasing Seq, against the chain's store,
// and counts the chain's records after the last of them.
func checkChain(ctx context.Context, dir audit.Backend, chain string, recs []audit.Record) (n int, after uint64, err error) {
	if !audit.ValidChain(chain) {
		return 0, 0, fmt.Errorf("record %d names %q, which is no chain", recs[0].Seq, chain)
	}
	s, err := dir.Open(ctx, chain, false)
	if errors.Is(err, audit.ErrNoChain) {
		return 0, 0, fmt.Errorf("the export holds records of %s, which the audit log does not have", chainName(chain))
	}
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	i := 0
	for stored, err := range s.Read(ctx, recs[0].Seq) {
		if err != nil {
			return i, 0, fmt.Errorf("read %s: %w", chainName(chain), err)
		}
		if i == len(recs) {
			after++
			continue
		}
		if stored.Seq < recs[i].Seq {
			continue
		}
		if stored.Seq == recs[i].Seq {
			if stored.Hash != recs[i].Hash {
				return i, 0, fmt.Errorf("record %d of %s differs from the audit log's", recs[i].Seq, chainName(chain))
			}
			i++
			continue
		}
		break // passed it: the chain has no such record
	}
	if i == len(recs) {
		return i, after, nil
	}
	return i, 0, fmt.Errorf("record %d of %s is not in the audit log", recs[i].Seq, chainName(chain))
}

func chainName(c string) string {
	if c == audit.SystemChain {
		return "the system chain"
	}
	return "tenant " + c
}
