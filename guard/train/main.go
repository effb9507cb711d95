// Command train trains guard's two models, the whole-text classifier
// (model.bin) and the segment model (segmodel.bin), and reports them.
//
//	go run ./guard/train/corpus -out /tmp/guard-corpus   # the guard corpus (guard-data branch)
//	go run ./guard/train -corpus /tmp/guard-corpus       # writes guard/model.bin and guard/segmodel.bin
//	go run ./guard/train -corpus /tmp/guard-corpus -heldout   # first reports BIPIA by held-out attack family
//	go run ./guard/train -eval                           # evaluate the embedded model on the dev.jsonl split
//
// Training reads dev.jsonl (80 % split by label and source), BIPIA's
// indirect-dev.jsonl (attacks located in their clean contexts; contexts
// split 60/20/20 by index), the self-written attacks.jsonl (seven
// languages) and docs.jsonl, and the guard corpus: its train split is
// trained on, its dev split and 20 % of the dev.jsonl training split tune
// the thresholds, its held-out split is only reported. Without -corpus,
// benign documents are read from the machine instead (corpus.go). The
// segment model learns from documents with attacks planted in them
// (plant.go), whose planted segments are the positives. Thresholds: guard's
// score threshold is 0.7; each model's probability is mapped onto it so
// that it flags at most 2 % (-quantile) of benign calibration documents and
// of benign prompts (-promptquantile). The same inputs and seed give the same files, byte
// for byte.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"

	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/guard/internal/classify"
	"github.com/bulwark-agents/bulwark/guard/measure"
)

// showMisses is -misses: list the texts guard gets wrong.
var showMisses *bool

// quant and promptQuant are -quantile and -promptquantile.
var quant, promptQuant *float64

// segLambda and segEpochs are -seglambda and -segepochs.
var (
	segLambda *float64
	segEpochs *int
)

// wholeLambda is -lambda.
var wholeLambda *float64

// example is one labelled text of the training files.
type example = measure.Example

func main() {
	data := flag.String("data", "/work/shared/data/injection/dev.jsonl", "labelled JSONL `file` (text, label, source)")
	out := flag.String("out", "guard/model.bin", "where to write the model")
	seed := flag.Uint64("seed", 1, "seed of the split, the folds and the training order")
	extra := flag.String("extra", "guard/train/extra.jsonl", "hand-written examples added to the training split only (benign texts about security, planted instructions); empty for none")
	eval := flag.Bool("eval", false, "evaluate the embedded model on the held-out split instead of training")
	indirect := flag.String("indirect", "/work/shared/data/injection/indirect-dev.jsonl", "BIPIA-based indirect injections (text, label, source, category)")
	attacks := flag.String("attacks", "guard/train/attacks.jsonl", "self-written attacks to plant in documents")
	docs := flag.String("docs", "guard/train/docs.jsonl", "self-written benign documents (emails, logs, shell, security prose)")
	goMod := flag.String("gomod", "/root/go/pkg/mod", "Go module cache, read as part of the benign corpus")
	corpusDir := flag.String("corpus", "", "`dir` of the guard corpus (train.jsonl, dev.jsonl, heldout.jsonl written by go run ./guard/train/corpus -out DIR): its train split is trained on, its dev split tunes the thresholds, its held-out split is only reported; replaces the benign files read from the machine")
	segOut := flag.String("segout", "guard/segmodel.bin", "where to write the segment model")
	heldout := flag.Bool("heldout", false, "before training the final models, train twice on half of the BIPIA attack categories and report on the other half")
	misses := flag.Bool("misses", false, "with -eval, also list the held-out texts guard gets wrong")
	showMisses = misses
	quant = flag.Float64("quantile", 0.98, "share of benign calibration texts each model must leave below the threshold")
	promptQuant = flag.Float64("promptquantile", 0.98, "share of benign prompts (typed requests, not documents) each model must leave below the threshold")
	segLambda = flag.Float64("seglambda", 1e-5, "L2 strength of the segment model")
	segEpochs = flag.Int("segepochs", 12, "passes over the segments")
	wholeLambda = flag.Float64("lambda", 1e-4, "L2 strength of the whole-text classifier")
	flag.Parse()
	log.SetFlags(0)
	if *eval && flag.NArg() > 0 {
		evalFiles(flag.Args()) // eval.go: figures on the given JSONL files
		return
	}

	all, err := load(*data)
	if err != nil {
		log.Fatal(err)
	}
	keys := make([]string, len(all))
	for i, e := range all {
		keys[i] = e.Label + "|" + e.Source
	}
	trainIdx, testIdx := classify.Split(keys, 0.8, *seed)
	if *eval {
		evaluate(pick(all, testIdx), *misses)
		return
	}
	d := &corpus{devTrain: pick(all, trainIdx), devTest: pick(all, testIdx)}
	if *extra != "" {
		if d.extra, err = load(*extra); err != nil {
			log.Fatal(err)
		}
	}
	if d.attacks, err = loadJSONL[attack](*attacks); err != nil {
		log.Fatal(err)
	}
	if d.rows, err = loadJSONL[indirectRow](*indirect); err != nil {
		log.Fatal(err)
	}
	d.bipia = extractBIPIA(d.rows)
	self, err := loadJSONL[struct{ Text, Kind, Lang string }](*docs)
	if err != nil {
		log.Fatal(err)
	}
	for i, x := range self {
		d.docs = append(d.docs, doc{Text: x.Text, Kind: "self", Part: partOf(fmt.Sprintf("self:%d", i))})
	}
	for i, r := range d.rows {
		if r.Label == "benign" {
			d.docs = append(d.docs, doc{Text: r.Text, Kind: "bipia-" + contextKind(r.Source), Part: partOf(fmt.Sprintf("bipia:%d", i))})
		}
	}
	if *corpusDir != "" {
		if err := d.loadGuardCorpus(*corpusDir); err != nil {
			log.Fatal(err)
		}
	} else {
		d.docs = append(d.docs, loadCorpus(benignSources(*goMod))...)
	}
	parts := map[string]int{}
	for _, x := range d.docs {
		parts[x.Kind+"/"+x.Part]++
	}
	log.Printf("%d BIPIA attacks recovered of %d; benign documents: %v", len(d.bipia), 125, parts)
	if *heldout {
		a, b := categoryGroups(d.bipia)
		for i, cats := range []map[string]bool{a, b} {
			m, sm := build(d, cats, *seed)
			report(fmt.Sprintf("Held out, run %d: trained on BIPIA categories %v", i+1, sortedKeys(cats)), m, sm, heldOut(d, cats))
		}
	}
	m, sm := build(d, nil, *seed)
	report("Final models (BIPIA rows trained on: not held out)", m, sm, heldOut(d, nil))
	for _, w := range []struct {
		m    *classify.Model
		path string
	}{{m, *out}, {sm, *segOut}} {
		var buf bytes.Buffer
		if err := w.m.Write(&buf); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(w.path, buf.Bytes(), 0o644); err != nil {
			log.Fatal(err)
		}
		log.Printf("wrote %s (%d bytes): %d training examples, threshold %.3f", w.path, buf.Len(), w.m.Examples, w.m.Threshold)
	}
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// load reads a JSONL file of labelled texts (measure.Load: a line
// without a valid label is an error).
func load(path string) ([]example, error) { return measure.Load(path) }

func pick(all []example, idx []int) []example {
	out := make([]example, len(idx))
	for i, j := range idx {
		out[i] = all[j]
	}
	return out
}

func view(text string) string { return classify.View(guard.Normalize(text)) }

type counts struct{ tp, fp, tn, fn int }

func (c *counts) add(flagged, injection bool) {
	switch {
	case flagged && injection:
		c.tp++
	case flagged:
		c.fp++
	case injection:
		c.fn++
	default:
		c.tn++
	}
}

func div(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func (c counts) f1() float64 { return div(2*c.tp, 2*c.tp+c.fp+c.fn) }

func (c counts) String() string {
	return fmt.Sprintf("| %d | %d | %.3f | %.3f | %.3f | %.3f |", c.tp+c.fn, c.fp+c.tn,
		div(c.tp, c.tp+c.fn), div(c.fp, c.fp+c.tn), div(c.tp, c.tp+c.fp), c.f1())
}

// auc is the ROC AUC of scores: the chance that a random injection scores
// above a random benign text (ties count half).
func auc(scores []float64, ys []bool) float64 {
	var pos, neg []float64
	for i, s := range scores {
		if ys[i] {
			pos = append(pos, s)
		} else {
			neg = append(neg, s)
		}
	}
	if len(pos) == 0 || len(neg) == 0 {
		return 0
	}
	sort.Float64s(neg)
	var sum float64
	for _, p := range pos {
		lo := sort.SearchFloat64s(neg, p)
		hi := sort.Search(len(neg), func(i int) bool { return neg[i] > p })
		sum += float64(lo) + float64(hi-lo)/2
	}
	return sum / float64(len(pos)*len(neg))
}

// evaluate prints the held-out figures as Markdown tables: detectors
// alone, classifier alone and combined, overall and per source, and which
// detectors fired on which class.
func evaluate(exs []example, misses bool) {
	type scorer struct {
		name  string
		score func(guard.Analysis) float64
		t     float64
	}
	scorers := []scorer{
		{"detectors only", func(a guard.Analysis) float64 { return a.Detector }, guard.DefaultThreshold()},
		{"classifier only", func(a guard.Analysis) float64 { return a.Classifier }, 0.5},
		{"combined (guard.Score)", func(a guard.Analysis) float64 { return a.Score }, guard.DefaultThreshold()},
	}
	as := make([]guard.Analysis, len(exs))
	ys := make([]bool, len(exs))
	fired := map[string][2]int{}
	for i, e := range exs {
		as[i] = guard.Analyze(e.Text)
		ys[i] = e.Label == "injection"
		seen := map[string]bool{}
		for _, r := range as[i].Reasons {
			name, _, _ := strings.Cut(r, ":")
			name, _, _ = strings.Cut(name, " (")
			if !seen[name] {
				seen[name] = true
				c := fired[name]
				if ys[i] {
					c[0]++
				} else {
					c[1]++
				}
				fired[name] = c
			}
		}
	}
	fmt.Printf("Held-out split: %d texts (threshold %.2f)\n\n", len(exs), guard.DefaultThreshold())
	fmt.Println("| scorer | source | injections | benign | recall | FPR | precision | F1 | AUC |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---:|")
	sources := []string{""}
	seenSrc := map[string]bool{}
	for _, e := range exs {
		if !seenSrc[e.Source] {
			seenSrc[e.Source] = true
			sources = append(sources, e.Source)
		}
	}
	for _, s := range scorers {
		for _, src := range sources {
			var c counts
			var sc []float64
			var sy []bool
			for i, e := range exs {
				if src != "" && e.Source != src {
					continue
				}
				v := s.score(as[i])
				c.add(v >= s.t, ys[i])
				sc, sy = append(sc, v), append(sy, ys[i])
			}
			name := "all"
			if src != "" {
				name, _, _ = strings.Cut(src, ":")
			}
			fmt.Printf("| %s | %s %s %.3f |\n", s.name, name, c, auc(sc, sy))
		}
	}
	if misses {
		fmt.Println("\nWrong verdicts (label, score, detectors, classifier, start of text):")
		for i, e := range exs {
			if as[i].Injection != ys[i] {
				fmt.Printf("- %s %.2f det %.2f clf %.2f: %.100q\n", e.Label, as[i].Score, as[i].Detector, as[i].Classifier, e.Text)
			}
		}
	}
	fmt.Println("\n| signal | fired on injections | fired on benign |")
	fmt.Println("|---|---:|---:|")
	var names []string
	for n := range fired {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Printf("| %s | %d | %d |\n", n, fired[n][0], fired[n][1])
	}
}
