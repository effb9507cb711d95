package main

import (
	"fmt"
	"log"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/guard/internal/classify"
	"github.com/bulwark-agents/bulwark/internal/affix"
)

// data is everything training reads, loaded once.
type corpus struct {
	devTrain, devTest []example
	extra             []example
	attacks           []attack      // self-written, guard/train/attacks.jsonl
	rows              []indirectRow // indirect-dev.jsonl
	bipia             []bipiaAttack // the attacks recovered from rows
	docs              []doc         // benign documents: corpus, BIPIA contexts, self-written
	planted           []planted     // attacks planted in documents, from the guard corpus's train split
	direct            []string      // attacks typed as prompts, from the guard corpus's train split
	report            []labelled    // the guard corpus's dev and held-out splits, reported only
}

// corpusRow is a line of the guard corpus (guard/train/corpus).
type corpusRow struct {
	Text, Label, Source, Split, Doc, Family string
}

// loadGuardCorpus reads the guard corpus: its benign texts become
// documents (train split: train, dev split: calibration, held-out split:
// test), its planted attacks of the train split are located in their host
// document (the benign text of the same doc with the longest common prefix
// and suffix) for the segment labels.
func (d *corpus) loadGuardCorpus(dir string) error {
	for _, split := range []string{"train", "dev", "heldout"} {
		rows, err := loadJSONL[corpusRow](dir + "/" + split + ".jsonl")
		if err != nil {
			return err
		}
		part := map[string]string{"train": "train", "dev": "calib", "heldout": "test"}[split]
		hosts := map[string][]string{}
		for _, r := range rows {
			if r.Label == "benign" {
				kind, _ := strings.CutPrefix(r.Source, "benign:")
				d.docs = append(d.docs, doc{Text: r.Text, Kind: kind, Part: part})
				hosts[r.Doc] = append(hosts[r.Doc], r.Text)
				if split != "train" {
					d.report = append(d.report, labelled{r.Text, "corpus " + split + ": all", false})
					if split == "dev" {
						d.report = append(d.report, labelled{r.Text, "corpus dev benign " + kind, false})
					}
				}
			}
		}
		for _, r := range rows {
			if r.Label != "injection" {
				continue
			}
			if split != "train" {
				group := "corpus " + split + " " + strings.SplitN(r.Source, ":", 2)[0] + " " + r.Family
				d.report = append(d.report, labelled{r.Text, group, true}, labelled{r.Text, "corpus " + split + ": all", true})
				continue
			}
			if strings.HasPrefix(r.Source, "direct:") {
				d.direct = append(d.direct, r.Text)
				continue
			}
			bestP, bestS, found := 0, 0, false
			for _, h := range hosts[r.Doc] {
				p := affix.Prefix(r.Text, h)
				s := affix.Suffix(r.Text[p:], h[min(p, len(h)):])
				if p+s >= len(h)*9/10 && (!found || p+s > bestP+bestS) {
					bestP, bestS, found = p, s, true
				}
			}
			if found && len(r.Text)-bestS > bestP {
				d.planted = append(d.planted, planted{Text: r.Text, Start: bestP, End: len(r.Text) - bestS})
			}
		}
	}
	return nil
}

// labelled is a text to evaluate, with its group in the report.
type labelled struct {
	text, group string
	injection   bool
}

// segExamples collects the training examples of the segment model.
type segExamples struct {
	xs []classify.Vector
	ys []bool
}

// add adds the segments of text; those overlapping text[start:end] are
// positive (none when start == end).
func (s *segExamples) add(text string, start, end int) {
	segs, in := guard.SegmentInputs(text)
	vecs := classify.SegVectors(in)
	for i, sg := range segs {
		s.xs = append(s.xs, vecs[i])
		s.ys = append(s.ys, sg.Start < end && start < sg.End)
	}
}

// addAlone adds text as a document of its own whose every segment has the
// label y.
func (s *segExamples) addAlone(text string, y bool) {
	_, in := guard.SegmentInputs(text)
	for _, v := range classify.SegVectors(in) {
		s.xs = append(s.xs, v)
		s.ys = append(s.ys, y)
	}
}

// build trains the whole-text classifier and the segment model with the
// BIPIA attack categories in cats (all when nil) and tunes both
// thresholds on the calibration part of the benign documents.
func build(d *corpus, cats map[string]bool, seed uint64) (*classify.Model, *classify.Model) {
	rng := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	pool := append([]attack(nil), d.attacks...)
	usedRow := map[int]bool{}
	for _, b := range d.bipia {
		if cats == nil || cats[b.Family] {
			pool = append(pool, b.attack)
			usedRow[b.row] = true
		}
	}
	var se segExamples
	var train []doc
	for _, x := range d.docs {
		if x.Part == "train" {
			train = append(train, x)
		}
	}
	for i, x := range train {
		se.add(x.Text, 0, 0)
		// A few consecutive sentences of it as a short text of their own:
		// instructions to a human reader ("set X in your environment")
		// are no injection even when little surrounds them.
		if segs, _ := guard.SegmentInputs(x.Text); len(segs) > 3 {
			k := rng.IntN(len(segs) - 2)
			se.addAlone(x.Text[segs[k].Start:segs[k+2].End], false)
		}
		if i%3 == 0 {
			// A user's request about the document, put before or after
			// it: what an agent is asked to do, and no injection.
			q := userRequests[rng.IntN(len(userRequests))]
			if rng.IntN(2) == 0 {
				se.addAlone(q+"\n\n"+x.Text, false)
			} else {
				se.addAlone(x.Text+"\n\n"+q, false)
			}
		}
		copies := 1
		if strings.HasPrefix(x.Kind, "bipia-") || x.Kind == "self" {
			copies = 4
		}
		for c := 0; c < copies; c++ {
			a := pool[rng.IntN(len(pool))]
			kind := strings.TrimPrefix(x.Kind, "bipia-")
			p := plant(rng, x.Text, a, kind)
			se.add(p.Text, p.Start, p.End)
		}
	}
	for _, b := range d.bipia {
		if usedRow[b.row] && d.docPart(b) == "train" {
			se.add(d.rows[b.row].Text, b.start, b.end)
		}
	}
	for _, p := range d.planted {
		se.add(p.Text, p.Start, p.End)
	}
	for _, t := range d.direct {
		se.addAlone(t, true)
	}
	// Benign prompts (a request with its data) twice: they are what a
	// planted request must not be confused with.
	for _, e := range d.devTrain {
		if e.Label == "benign" && partOf(e.Text) != "calib" {
			se.addAlone(e.Text, false)
			se.addAlone(e.Text, false)
		}
	}
	for _, a := range d.attacks {
		se.addAlone(a.Text, a.Alone)
	}
	pos := 0
	for _, y := range se.ys {
		if y {
			pos++
		}
	}
	log.Printf("segment model: %d segments, %d positive", len(se.ys), pos)
	sm := classify.Train(se.xs, se.ys, classify.TrainConfig{Seed: seed, Epochs: *segEpochs, Lambda: *segLambda, Rate: 0.3, Dim: classify.SegDim})
	sm.Note = "segment model, trained by go run ./guard/train"

	// The whole-text classifier: direct injections against benign prompts
	// and benign documents (their first window).
	var xs []classify.Vector
	var ys []bool
	addText := func(t string, y bool) {
		v := view(t)
		if len(v) > 2048 {
			v = v[:2048]
		}
		xs, ys = append(xs, classify.Vectorize(v)), append(ys, y)
	}
	for _, e := range append(append([]example(nil), d.devTrain...), d.extra...) {
		if partOf(e.Text) != "calib" {
			addText(e.Text, e.Label == "injection")
		}
	}
	for _, a := range d.attacks {
		if a.Alone {
			addText(a.Text, true)
		}
	}
	for _, t := range d.direct {
		addText(t, true)
	}
	for _, x := range train {
		addText(x.Text, false)
		// A few of its sentences alone, so that one benign sentence about
		// prompts or keys is not taken for an attack.
		segs, _ := guard.SegmentInputs(x.Text)
		n := 0
		for _, k := range rng.Perm(len(segs)) {
			sg := segs[k]
			if t := x.Text[sg.Start:sg.End]; len(strings.Fields(t)) >= 5 && sg.Kind != guard.KindCode {
				addText(t, false)
				if n++; n == 3 {
					break
				}
			}
		}
	}
	m := classify.Train(xs, ys, classify.TrainConfig{Seed: seed, Epochs: 20, Lambda: *wholeLambda, Rate: 0.5})
	m.Note = "whole-text classifier, trained by go run ./guard/train"

	// Thresholds: the document threshold is fixed, so that a strong
	// detector hit flags a text on its own; each model's probability is
	// mapped onto it so that it flags at most ~1 % of the benign
	// calibration documents and ~1 % of the benign prompts.
	m.Threshold, sm.Threshold = docThreshold, docThreshold
	var docs, prompts []string
	for _, x := range d.docs {
		if x.Part == "calib" {
			docs = append(docs, x.Text)
		}
	}
	for _, e := range d.devTrain {
		if e.Label == "benign" && partOf(e.Text) == "calib" {
			prompts = append(prompts, e.Text)
		}
	}
	mt, st := 0.5, 0.5
	for gi, group := range [][]string{docs, prompts} {
		q := *quant
		if gi == 1 {
			q = *promptQuant
		}
		var whole, segs []float64
		for _, x := range group {
			v := view(x)
			p := 0.0
			for i := 0; i < len(v); i += 1536 {
				p = max(p, m.Prob(v[i:min(len(v), i+2048)]))
			}
			whole = append(whole, p)
			segs = append(segs, segProb(x, sm))
		}
		log.Printf("calibration group of %d: classifier %.3f, segments %.3f", len(group), quantile(whole, q), quantile(segs, q))
		mt = max(mt, quantile(whole, q)+0.002)
		st = max(st, quantile(segs, q)+0.002)
	}
	m.ProbThreshold, sm.ProbThreshold = mt, st
	calib := append(docs, prompts...)
	sm.Threshold = m.Threshold
	log.Printf("thresholds: document %.3f, classifier probability %.3f, segment probability %.3f (on %d calibration texts)", m.Threshold, m.ProbThreshold, sm.ProbThreshold, len(calib))
	return m, sm
}

// userRequests are what a user asks about a document they paste: they
// point at it ("this", "the following") and are no injection.
var userRequests = []string{
	"Summarize this document in three sentences.", "Translate the following text into German:", "What is the main point of this email?",
	"Fix the bug in the code below.", "Answer the question based on the table above: which row has the highest value?",
	"Write a short reply to this message.", "Extract all dates from the following text.", "Is the sentiment of this review positive or negative?",
	"Explain what this code does.", "Rewrite the paragraph above in plain English.", "List the action items in this email.",
	"Given the passage, what happened first?", "Proofread the following text and correct any errors:", "Generate a title for this article.",
	"Classify this text into one of the categories: sports, politics, tech.", "Read the log below and tell me why the job failed.",
	"Résume ce texte en deux phrases.", "Fasse den folgenden Text zusammen:", "Resume el siguiente texto:", "请总结下面这段文字。",
	"Кратко перескажи этот текст.", "次の文章を要約してください。", "Convert the table below to JSON.", "What does this error mean?",
}

// docThreshold is guard's threshold on its score. Detector weights are on
// the same scale: a hit of weight 0.7 or more flags a text alone.
const docThreshold = 0.7

// segProb is the segment model's highest probability over the segments of
// text.
func segProb(text string, sm *classify.Model) float64 {
	_, in := guard.SegmentInputs(text)
	if len(in) < 3 {
		return 0 // as guard does: a sentence or two is judged as a whole
	}
	p := 0.0
	for i, v := range classify.SegVectors(in) {
		if guard.Wordy(in[i].View) {
			p = max(p, sm.ProbVec(v))
		}
	}
	return p
}

func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// docPart is the part of the clean context b was planted in.
// An attack whose context is not among the clean ones counts as train.
func (d *corpus) docPart(b bipiaAttack) string {
	if b.context < 0 {
		return "train"
	}
	return partOf(fmt.Sprintf("bipia:%d", b.context))
}

// report prints recall, false-positive rate and AUC per group of texts
// scored with m and sm at m's threshold.
func report(title string, m, sm *classify.Model, texts []labelled) {
	type acc struct {
		sc []float64
		ys []bool
		c  counts
	}
	groups := map[string]*acc{}
	var order []string
	for _, t := range texts {
		g := groups[t.group]
		if g == nil {
			g = &acc{}
			groups[t.group] = g
			order = append(order, t.group)
		}
		an := guard.AnalyzeWith(t.text, m, sm)
		s := an.Score
		if *showMisses && (s >= m.Threshold) != t.injection {
			top := ""
			if len(an.Segments) > 0 {
				top = an.Segments[0].Text
			}
			fmt.Printf("MISS %s inj=%v score %.2f det %.2f clf %.2f seg %.2f top %.120q | %.100q %.300q\n", t.group, t.injection, s, an.Detector, an.Classifier, an.Segment, top, t.text, an.Reasons)
		}
		g.sc, g.ys = append(g.sc, s), append(g.ys, t.injection)
		g.c.add(s >= m.Threshold, t.injection)
	}
	fmt.Printf("\n%s (threshold %.3f)\n\n| group | injections | benign | recall | FPR | precision | F1 | AUC |\n|---|---:|---:|---:|---:|---:|---:|---:|\n", title, m.Threshold)
	for _, g := range order {
		a := groups[g]
		fmt.Printf("| %s %s %.3f |\n", g, a.c, auc(a.sc, a.ys))
	}
}

// heldOut returns the texts to report for a model trained on the BIPIA
// categories in cats: the direct held-out split of dev.jsonl, the BIPIA
// injections of the other categories with the clean contexts of the test
// part, and the test part of every benign corpus.
func heldOut(d *corpus, cats map[string]bool) []labelled {
	var out []labelled
	for _, e := range d.devTest {
		out = append(out, labelled{e.Text, "dev.jsonl 20% (direct)", e.Label == "injection"})
	}
	ctx := map[int]int{}
	for _, b := range d.bipia {
		ctx[b.row] = b.context
	}
	for i, r := range d.rows {
		if r.Label != "injection" || cats != nil && cats[r.Category] {
			continue
		}
		g := "BIPIA unseen families, unseen context"
		if c, ok := ctx[i]; ok && c >= 0 && partOf(fmt.Sprintf("bipia:%d", c)) == "train" {
			g = "BIPIA unseen families, context seen clean in training"
		}
		if cats == nil {
			g = "BIPIA (all trained on, not held out)"
		}
		out = append(out, labelled{r.Text, g, true})
		out = append(out, labelled{r.Text, "BIPIA: unseen families vs clean test contexts", true})
	}
	out = append(out, d.report...)
	kinds := map[string]bool{}
	for _, x := range d.docs {
		if x.Part == "test" {
			kinds[x.Kind] = true
		}
	}
	var ks []string
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		for _, x := range d.docs {
			if x.Part == "test" && x.Kind == k {
				out = append(out, labelled{x.Text, "benign " + k, false})
				if strings.HasPrefix(k, "bipia-") {
					out = append(out, labelled{x.Text, "BIPIA: unseen families vs clean test contexts", false})
				}
			}
		}
	}
	return out
}
