// Command corpus writes guard's training and evaluation corpus: benign
// documents from this machine and generated around them, and injections
// typed directly or planted into those documents, split into train, dev
// and held out. See guard/train/README.md.
//
//	go run ./guard/train/corpus -out /tmp/guard-corpus
package main

import (
	"flag"
	"log"

	"github.com/bulwark-agents/bulwark/guard/train/internal/corpus"
)

func main() {
	cfg := corpus.DefaultConfig()
	out := flag.String("out", "", "`directory` to write train.jsonl, dev.jsonl, heldout.jsonl and sources.json to")
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of every draw; the same machine and seed give the same corpus")
	flag.Float64Var(&cfg.Scale, "scale", cfg.Scale, "multiplies the number of texts of every source")
	flag.Parse()
	log.SetFlags(0)
	if *out == "" {
		log.Fatal("corpus: -out DIR is required")
	}
	exs, err := corpus.Build(cfg)
	if err != nil {
		log.Fatalf("corpus: %v", err)
	}
	if err := corpus.WriteDir(*out, exs); err != nil {
		log.Fatalf("corpus: %v", err)
	}
	log.Printf("corpus: wrote %d texts to %s", len(exs), *out)
}
