package export

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"path/filepath"
	"testing"

	"github.com/bulwark-agents/bulwark/audit"
)

// benchExport measures appends to a file chain (group commit, 8 ×
// GOMAXPROCS goroutines) with the export e (nil: none), to compare the
// cost of exporting with none.
func benchExport(b *testing.B, e *Exporter) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	c, err := audit.OpenChains(context.Background(), audit.FileDir{Path: b.TempDir()}, audit.Options{SigningKey: key, Export: exporterOrNil(e)})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		b.StopTimer() // Close gives the export up to 5 s to drain: not the appends' cost
		c.Close()
	}()
	rec := audit.Record{TenantID: "tn_a", Actor: "user:u1", Action: "tool.call", Target: "t_1", Outcome: audit.OutcomeOK,
		Details: map[string]string{"summary": "path=notes.txt content=<1234 bytes>"}}
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.Append(context.Background(), rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func exporterOrNil(e *Exporter) audit.Exporter {
	if e == nil {
		return nil
	}
	return e
}

func BenchmarkAppendNoExport(b *testing.B) { benchExport(b, nil) }

func BenchmarkAppendExportFile(b *testing.B) {
	e, err := New(Target{Kind: "file", Path: filepath.Join(b.TempDir(), "export.jsonl")}, nil, Options{Log: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	benchExport(b, e)
}

// BenchmarkAppendExportStalledSyslog exports to a TCP peer that accepts
// and never reads: the queue fills and drops, and appends go on.
func BenchmarkAppendExportStalledSyslog(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	e, err := New(Target{Kind: "syslog", Network: "tcp", Addr: ln.Addr().String()}, nil, Options{Log: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	benchExport(b, e)
}
