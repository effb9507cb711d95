package audit

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// benchAppend measures durable appends per second to a file log from 16
// concurrent goroutines (b.RunParallel), committing at most maxBatch
// records per fsync.
func benchAppend(b *testing.B, maxBatch int) {
	s, err := OpenFile(filepath.Join(b.TempDir(), "audit.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	l, err := NewLog(context.Background(), s, Options{SigningKey: testKey(b), MaxBatch: maxBatch})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	rec := sampleRecord(1)
	b.SetParallelism(8) // 8 × GOMAXPROCS goroutines
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Append(context.Background(), rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
}

// BenchmarkAppendFsyncEach: one fsync per record.
func BenchmarkAppendFsyncEach(b *testing.B) { benchAppend(b, 1) }

// BenchmarkAppendGroupCommit: concurrent records share an fsync.
func BenchmarkAppendGroupCommit(b *testing.B) { benchAppend(b, 0) }

// BenchmarkAppendSerial: one goroutine, so no batching is possible.
func BenchmarkAppendSerial(b *testing.B) {
	s, err := OpenFile(filepath.Join(b.TempDir(), "audit.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	l, _ := NewLog(context.Background(), s, Options{SigningKey: testKey(b)})
	defer l.Close()
	rec := sampleRecord(1)
	start := time.Now()
	for b.Loop() {
		if err := l.Append(context.Background(), rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
}

// BenchmarkVerify: verifying a log of 10,000 records.
func BenchmarkVerify(b *testing.B) {
	key := testKey(b)
	path := mustFileLog(b, key, 10000, 1000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := verifyFile(b, path, pub(key)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(10000*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRecordMAC: the MAC each record gets on append and each
// verification checks, against the record's SHA-256 hash it covers.
func BenchmarkRecordMAC(b *testing.B) {
	key := macKey(testKey(b))
	r := sampleRecord(1)
	r.Time = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	b.Run("hash", func(b *testing.B) {
		for b.Loop() {
			r.Hash = ComputeHash(&r)
		}
	})
	b.Run("mac", func(b *testing.B) {
		for b.Loop() {
			r.MAC = recordMAC(key, "tn_0123456789abcdef", r.Hash)
		}
	})
}
