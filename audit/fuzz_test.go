package audit

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecodeRecord checks that DecodeRecord never panics, that what it
// accepts is exactly what EncodeRecord writes for the record it returns,
// and that decoding that again gives the same record and hash.
func FuzzDecodeRecord(f *testing.F) {
	for i := range 4 {
		r := sampleRecord(i)
		r.Seq, r.Time = uint64(i+1), time.Date(2025, 1, 1, 0, 0, i, i*1000, time.UTC)
		sealed, line, err := seal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(line)
		sealed.MAC = Hash{byte(i), 0xfe} // a record with a MAC, as Log writes it
		if line, err = EncodeRecord(sealed); err != nil {
			f.Fatal(err)
		}
		f.Add(line)
	}
	f.Add([]byte(`{"seq":1}`))
	f.Add([]byte(`{"seq":1,"time":"2025-01-01T00:00:00Z","tenant":"","actor":"","action":"","target":"","outcome":"","details":{},"prev":"` +
		"0000000000000000000000000000000000000000000000000000000000000000" + `","hash":"` +
		"0000000000000000000000000000000000000000000000000000000000000000" + `"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := DecodeRecord(line)
		if err != nil {
			return
		}
		enc, err := EncodeRecord(r)
		if err != nil {
			t.Fatalf("EncodeRecord of a decoded record: %v", err)
		}
		if !bytes.Equal(bytes.TrimSuffix(enc, []byte("\n")), bytes.TrimSuffix(line, []byte("\n"))) {
			t.Fatalf("DecodeRecord accepted %q, which encodes as %q", line, enc)
		}
		r2, err := DecodeRecord(enc)
		if err != nil {
			t.Fatalf("DecodeRecord(EncodeRecord(r)): %v", err)
		}
		if ComputeHash(&r2) != ComputeHash(&r) || r2.Hash != r.Hash || r2.MAC != r.MAC || !r2.Time.Equal(r.Time) {
			t.Fatalf("decoding %q twice differs", line)
		}
	})
}

// FuzzDecodeCheckpoint: the same for checkpoint lines.
func FuzzDecodeCheckpoint(f *testing.F) {
	line, _ := EncodeCheckpoint(signCheckpoint(testKey(f), "", 5, Hash{7}, time.Unix(1700000000, 5)))
	f.Add(line)
	f.Fuzz(func(t *testing.T, line []byte) {
		c, err := DecodeCheckpoint(line)
		if err != nil {
			return
		}
		enc, err := EncodeCheckpoint(c)
		if err != nil || !bytes.Equal(bytes.TrimSuffix(enc, []byte("\n")), bytes.TrimSuffix(line, []byte("\n"))) {
			t.Fatalf("DecodeCheckpoint accepted %q, which encodes as %q (%v)", line, enc, err)
		}
	})
}
