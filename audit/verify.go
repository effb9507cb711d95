package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
)

// Report is the result of Verify.
type Report struct {
	Records     uint64 // records checked, in a valid chain
	Head        Hash   // Hash of the last of them
	Checkpoints int    // checkpoints whose signature and head were checked
	Signed      uint64 // records covered by the last valid checkpoint
	Problem     *Problem
}

// Problem is the first thing Verify found wrong. It is also the error
// Verify returns, so callers may use errors.As.
type Problem struct {
	Seq        uint64 // the first record affected (0 when only a checkpoint is)
	Checkpoint int    // the checkpoint involved, from 1 (0 for none)
	Reason     string
}

func (p *Problem) Error() string {
	switch {
	case p.Checkpoint > 0 && p.Seq > 0:
		return fmt.Sprintf("audit record %d, checkpoint %d: %s", p.Seq, p.Checkpoint, p.Reason)
	case p.Checkpoint > 0:
		return fmt.Sprintf("audit checkpoint %d: %s", p.Checkpoint, p.Reason)
	}
	return fmt.Sprintf("audit record %d: %s", p.Seq, p.Reason)
}

// Verify checks the whole log in s: that every record decodes in its
// canonical form, that Seq numbers run 1, 2, 3..., that each PrevHash is
// the Hash before it and each Hash is right; then that every checkpoint is
// signed by pub, covers no more records than the log has, and names the
// hash the log has at its size.
//
// Together these catch any changed byte, deleted, inserted or reordered
// record, and any truncation or rewrite (even with a recomputed chain) of
// the records behind a checkpoint. Records after the last checkpoint can be
// removed or rewritten by someone who can write the log without being
// caught: sign checkpoints often, and keep the public key, or the latest
// checkpoint, elsewhere.
//
// Verify returns the *Problem (also in the Report) when the log fails,
// another error when it could not be read, and nil when all is well.
func Verify(ctx context.Context, s Store, pub ed25519.PublicKey) (Report, error) {
	var rep Report
	if len(pub) != ed25519.PublicKeySize {
		return rep, errors.New("audit verify: no valid public key")
	}
	fail := func(p *Problem) (Report, error) {
		rep.Problem = p
		return rep, p
	}
	cps, cpErr := s.Checkpoints(ctx)
	var corrupt *CorruptError
	if cpErr != nil && !errors.As(cpErr, &corrupt) {
		return rep, fmt.Errorf("audit verify: %w", cpErr)
	}
	want := make(map[uint64]Hash, len(cps)) // hashes at the checkpoints' sizes
	for _, c := range cps {
		want[c.Size] = Hash{}
	}

	var prev Hash
	for r, err := range s.Read(ctx, 0) {
		next := rep.Records + 1
		if err != nil {
			if errors.As(err, &corrupt) {
				return fail(&Problem{Seq: next, Reason: fmt.Sprintf("line %d cannot be read: %v", corrupt.Index, corrupt.Err)})
			}
			return rep, fmt.Errorf("audit verify: %w", err)
		}
		switch {
		case r.Seq != next:
			return fail(&Problem{Seq: next, Reason: fmt.Sprintf("found record %d in its place (deleted, inserted or reordered)", r.Seq)})
		case r.PrevHash != prev:
			return fail(&Problem{Seq: next, Reason: "previous hash does not match the record before"})
		case ComputeHash(&r) != r.Hash:
			return fail(&Problem{Seq: next, Reason: "hash does not match the record's contents"})
		}
		prev = r.Hash
		rep.Records, rep.Head = next, r.Hash
		if _, ok := want[next]; ok {
			want[next] = r.Hash
		}
	}

	var last uint64
	for i, c := range cps {
		n := i + 1
		switch {
		case !c.verify(pub):
			return fail(&Problem{Checkpoint: n, Reason: "bad signature"})
		case c.Size < last:
			return fail(&Problem{Checkpoint: n, Reason: fmt.Sprintf("covers %d records, fewer than the checkpoint before (%d)", c.Size, last)})
		case c.Size > rep.Records:
			return fail(&Problem{Seq: rep.Records + 1, Checkpoint: n,
				Reason: fmt.Sprintf("log truncated: the checkpoint covers %d records, the log has %d", c.Size, rep.Records)})
		case c.Size > 0 && want[c.Size] != c.Head || c.Size == 0 && c.Head != Hash{}:
			return fail(&Problem{Seq: last + 1, Checkpoint: n,
				Reason: fmt.Sprintf("records %d to %d differ from what the checkpoint signed", last+1, c.Size)})
		}
		last = c.Size
		rep.Checkpoints, rep.Signed = n, c.Size
	}
	if cpErr != nil {
		return fail(&Problem{Checkpoint: corrupt.Index, Reason: fmt.Sprintf("cannot be read: %v", corrupt.Err)})
	}
	return rep, nil
}
