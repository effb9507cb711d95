package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
)

// Report is the result of Verify.
type Report struct {
	Records     uint64 // records in the chain, all found in a valid chain
	Head        Hash   // Hash of the last of them
	Checkpoints int    // checkpoints whose signature and head were checked
	Signed      uint64 // records covered by the last valid checkpoint
	Read        uint64 // records this verification read (all of them unless it started from a Marker)
	MACs        bool   // each record's MAC was checked (the Key was the signing key's)
	Problem     *Problem

	cpDigest Hash   // SHA-256 of the stored forms of the Checkpoints checked
	firstMAC uint64 // Seq of the chain's first record with a MAC (0: none)
}

// Marker is where a chain was last found intact: VerifyChain given it reads
// only the records from there on. Keep it where the chain's writer cannot
// change it (in memory, in the process that verified).
type Marker struct {
	Seq         uint64 // records verified
	Head        Hash   // Hash of record Seq
	Checkpoints int    // checkpoints verified
	Signed      uint64 // Size of the last of them
	cpDigest    Hash   // SHA-256 of their stored forms
	firstMAC    uint64 // Seq of the first record with a MAC (0: none up to Seq)
}

// Marker returns the Marker of a verification that found no problem.
func (r Report) Marker() Marker {
	return Marker{Seq: r.Records, Head: r.Head, Checkpoints: r.Checkpoints, Signed: r.Signed, cpDigest: r.cpDigest, firstMAC: r.firstMAC}
}

// Problem is the first thing Verify found wrong. It is also the error
// Verify returns, so callers may use errors.As.
type Problem struct {
	Seq        uint64 // the first record affected (0 when only a checkpoint is, or the chain as a whole)
	Checkpoint int    // the checkpoint involved, from 1 (0 for none)
	Reason     string
}

func (p *Problem) Error() string {
	switch {
	case p.Checkpoint > 0 && p.Seq > 0:
		return fmt.Sprintf("audit record %d, checkpoint %d: %s", p.Seq, p.Checkpoint, p.Reason)
	case p.Checkpoint > 0:
		return fmt.Sprintf("audit checkpoint %d: %s", p.Checkpoint, p.Reason)
	case p.Seq == 0:
		return "audit chain: " + p.Reason
	}
	return fmt.Sprintf("audit record %d: %s", p.Seq, p.Reason)
}

// Verify checks the whole log in s, a single log or the system chain: that
// every record decodes in its canonical form, that Seq numbers run 1, 2,
// 3..., that each PrevHash is the Hash before it and each Hash is right;
// with a Key of the signing key (KeyOf), that each record's MAC is right
// and that no record lacks one that must have one (see mac.go); then that
// every checkpoint is signed with k for the system chain, covers no more
// records than the log has, and names the hash the log has at its size.
//
// Together these catch any changed byte, deleted, inserted or reordered
// record, and any truncation or rewrite (even with a recomputed chain) of
// the records behind a checkpoint; with the MACs, a rewrite anywhere, the
// checkpoints deleted or not. Records after the last checkpoint can be
// removed from the chain's end by someone who can write the log without
// being caught (and, with the public key alone, rewritten): sign
// checkpoints often, and keep a copy of the log (BULWARK_AUDIT_EXPORT),
// or the latest checkpoint, elsewhere.
//
// Verify returns the *Problem (also in the Report) when the log fails,
// another error when it could not be read, and nil when all is well.
func Verify(ctx context.Context, s Store, k Key) (Report, error) {
	return VerifyChain(ctx, s, k, "", Marker{}, nil)
}

// VerifyChain is Verify for the chain named chain ("" for the system
// chain, else a tenant id whose records must all name that tenant), from a
// Marker a previous verification returned (the zero Marker for the whole
// chain). From a Marker it reads only the records from Marker.Seq on (and
// back to any checkpoint signed since whose size is below it), through the
// store's index: the record at Marker.Seq must still hash to Marker.Head,
// which, the chain being checked forward from there, vouches for what
// follows; records before it are trusted as verified. The checkpoints
// checked before must be unchanged, and the new ones are checked as Verify
// does. visit, if not nil, is given each record read.
func VerifyChain(ctx context.Context, s Store, k Key, chain string, from Marker, visit func(Record)) (Report, error) {
	var rep Report
	if len(k.pub) != ed25519.PublicKeySize {
		return rep, errors.New("audit verify: no valid public key")
	}
	rep.MACs = k.mac != nil
	fail := func(p *Problem) (Report, error) {
		rep.Problem = p
		return rep, p
	}
	cps, cpErr := s.Checkpoints(ctx)
	var corrupt *CorruptError
	if cpErr != nil && !errors.As(cpErr, &corrupt) {
		return rep, fmt.Errorf("audit verify: %w", cpErr)
	}
	// The checkpoints verified before must be there, unchanged.
	digest := sha256.New()
	if from.Checkpoints > 0 {
		if len(cps) < from.Checkpoints {
			return fail(&Problem{Checkpoint: len(cps) + 1, Reason: fmt.Sprintf("removed: %d checkpoints were verified, %d remain", from.Checkpoints, len(cps))})
		}
		for _, c := range cps[:from.Checkpoints] {
			line, _ := EncodeCheckpoint(c)
			digest.Write(line)
		}
		if Hash(digest.Sum(nil)) != from.cpDigest {
			return fail(&Problem{Checkpoint: 1, Reason: "checkpoints changed since they were last verified"})
		}
	}
	fresh := cps[min(from.Checkpoints, len(cps)):]
	start := from.Seq // the first record to read
	want := make(map[uint64]Hash, len(fresh))
	for _, c := range fresh {
		want[c.Size] = Hash{}
		if c.Size > 0 && c.Size < start {
			start = c.Size
		}
	}
	if start == 0 {
		start = 1
	}

	n := start - 1 // records found so far
	var prev Hash
	firstMAC := from.firstMAC
	for r, err := range s.Read(ctx, start) {
		next := n + 1
		if err != nil {
			if errors.As(err, &corrupt) {
				return fail(&Problem{Seq: next, Reason: fmt.Sprintf("line %d cannot be read: %v", corrupt.Index, corrupt.Err)})
			}
			if errors.Is(err, fs.ErrNotExist) {
				return fail(&Problem{Seq: next, Reason: "the chain's records are gone: they were removed"})
			}
			return rep, fmt.Errorf("audit verify: %w", err)
		}
		rep.Read++
		switch {
		case r.Seq != next:
			return fail(&Problem{Seq: next, Reason: fmt.Sprintf("found record %d in its place (deleted, inserted or reordered)", r.Seq)})
		case (next > start || from.Seq == 0) && r.PrevHash != prev:
			// The first record read from a Marker is vouched for by the
			// hash at the Marker, checked below.
			return fail(&Problem{Seq: next, Reason: "previous hash does not match the record before"})
		case ComputeHash(&r) != r.Hash:
			return fail(&Problem{Seq: next, Reason: "hash does not match the record's contents"})
		case next == from.Seq && r.Hash != from.Head:
			return fail(&Problem{Seq: next, Reason: "records up to this one changed since they were last verified"})
		case chain != "" && r.TenantID != chain:
			return fail(&Problem{Seq: next, Reason: "the record belongs to another chain"})
		case k.mac != nil && r.MAC != (Hash{}) && r.MAC != recordMAC(k.mac, chain, r.Hash):
			return fail(&Problem{Seq: next, Reason: "its MAC does not match: the record was changed, or brought from another chain, by someone without the signing key"})
		case k.mac != nil && r.MAC == (Hash{}) && k.strict:
			return fail(&Problem{Seq: next, Reason: "it has no MAC, which every record of this log has: it was added or changed by someone without the signing key"})
		case k.mac != nil && r.MAC == (Hash{}) && firstMAC != 0 && next > firstMAC:
			return fail(&Problem{Seq: next, Reason: fmt.Sprintf("it has no MAC, though record %d before it has one: it was added or changed by someone without the signing key", firstMAC)})
		}
		if visit != nil {
			visit(r)
		}
		if r.MAC != (Hash{}) && (firstMAC == 0 || next < firstMAC) {
			firstMAC = next
		}
		prev, n = r.Hash, next
		rep.Records, rep.Head = n, r.Hash
		if _, ok := want[n]; ok {
			want[n] = r.Hash
		}
	}
	if n < from.Seq {
		return fail(&Problem{Seq: n + 1, Reason: fmt.Sprintf("log truncated: %d records were verified, the log has %d", from.Seq, n)})
	}

	last := from.Signed
	rep.Checkpoints, rep.Signed = from.Checkpoints, from.Signed
	for i, c := range fresh {
		idx := from.Checkpoints + i + 1
		switch {
		case c.Chain != chain || !c.verify(k.pub):
			return fail(&Problem{Checkpoint: idx, Reason: "bad signature"})
		case c.Size < last:
			return fail(&Problem{Checkpoint: idx, Reason: fmt.Sprintf("covers %d records, fewer than the checkpoint before (%d)", c.Size, last)})
		case c.Size > rep.Records:
			return fail(&Problem{Seq: rep.Records + 1, Checkpoint: idx,
				Reason: fmt.Sprintf("log truncated: the checkpoint covers %d records, the log has %d", c.Size, rep.Records)})
		case c.Size > 0 && want[c.Size] != c.Head || c.Size == 0 && c.Head != Hash{}:
			return fail(&Problem{Seq: last + 1, Checkpoint: idx,
				Reason: fmt.Sprintf("records %d to %d differ from what the checkpoint signed", last+1, c.Size)})
		}
		last = c.Size
		line, _ := EncodeCheckpoint(c)
		digest.Write(line)
		rep.Checkpoints, rep.Signed = idx, c.Size
	}
	if cpErr != nil {
		return fail(&Problem{Checkpoint: corrupt.Index, Reason: fmt.Sprintf("cannot be read: %v", corrupt.Err)})
	}
	rep.cpDigest, rep.firstMAC = Hash(digest.Sum(nil)), firstMAC
	return rep, nil
}

// belowMark returns the problem, also set in rep, when a verification
// that did not start from prev, where the chain was last found intact
// (a full one), finds less than prev vouched for: fewer records, another
// hash at prev.Seq (at, as read again), fewer checkpoints, or the first
// record with a MAC later or gone. Starting again from nothing, it would
// otherwise find intact, and mark so, a chain cut behind the mark, or
// rewritten with its MACs removed (red team of the MACs, session 44:
// VerifyFull passed what Verify had just failed, and moved the mark).
// nil when prev is the zero Marker.
func belowMark(prev Marker, rep *Report, at Hash) error {
	var p *Problem
	switch {
	case rep.Records < prev.Seq:
		p = &Problem{Seq: rep.Records + 1, Reason: fmt.Sprintf("log truncated: %d records were verified, the log has %d", prev.Seq, rep.Records)}
	case prev.Seq > 0 && at != prev.Head:
		p = &Problem{Seq: prev.Seq, Reason: "records up to this one changed since they were last verified"}
	case rep.Checkpoints < prev.Checkpoints:
		p = &Problem{Checkpoint: rep.Checkpoints + 1, Reason: fmt.Sprintf("removed: %d checkpoints were verified, %d remain", prev.Checkpoints, rep.Checkpoints)}
	case prev.firstMAC != 0 && (rep.firstMAC == 0 || rep.firstMAC > prev.firstMAC):
		p = &Problem{Seq: prev.firstMAC, Reason: "its MAC was removed since it was last verified"}
	default:
		return nil
	}
	rep.Problem = p
	return p
}
