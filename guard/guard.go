// Package guard screens untrusted text (web pages, files, tool output,
// messages) for prompt injection and keeps what it finds from passing for
// instructions: Score rates a text with detectors and a small classifier,
// Mark wraps untrusted text in delimiters the text cannot close, canaries
// reveal a leaked system prompt, and ValidateInput cleans task inputs.
//
// Scoring is a screen, not a proof: it catches the common forms of
// injection and their disguises (invisible characters, homoglyphs,
// base64/hex/URL encodings), and misses paraphrases it was never shown.
// Marking and the policy limits of the task are what hold when it misses.
package guard

import (
	"context"
	_ "embed"
	"fmt"
	"sort"
	"strings"

	"github.com/bulwark-agents/bulwark/guard/internal/classify"
	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// Result is the verdict on one text.
type Result struct {
	// Injection is true when Score reaches the threshold.
	Injection bool `json:"injection"`
	// Score is 0 (no sign of injection) to 1.
	Score float64 `json:"score"`
	// Reasons name what was found: a detector and the text it matched
	// ("instruction-override: ignore all previous instructions"), the
	// classifier's score, and where decoded text was involved.
	Reasons []string `json:"reasons"`
	// Segments are the spans of the text that scored highest on their
	// own (at most three, highest first), so a person can see what was
	// flagged; empty when no span stands out.
	Segments []ScoredSpan `json:"segments,omitempty"`
}

// ScoredSpan is a scored segment of a text: text[Start:End], in bytes.
type ScoredSpan struct {
	Start int     `json:"start"`
	End   int     `json:"end"`
	Kind  string  `json:"kind"`
	Score float64 `json:"score"`
	Text  string  `json:"text"`
}

// Analysis is a Result with the parts that made it, for evaluation and
// debugging.
type Analysis struct {
	Result
	Detector   float64 // the detectors' combined score, 0..1
	Classifier float64 // the classifier's probability, on the scale of Score
	Segment    float64 // the segment model's highest score, on the scale of Score
}

// SecondOpinion asks something slower and better (a model) whether text is
// an injection. Scanner asks it only for borderline scores.
type SecondOpinion func(ctx context.Context, text string) (bool, error)

//go:embed model.bin
var modelFile []byte

// model is the embedded classifier, read on first use: every bulwark
// process links the guard, and most (the sandbox init, short CLI commands)
// never score a text, so they should not pay for reading it at start.
var model = lazy.Value[*classify.Model]{New: mustModel}

//go:embed segmodel.bin
var segModelFile []byte

// segModel is the embedded segment model, read on first use like model.
var segModel = lazy.Value[*classify.Model]{New: func() *classify.Model { return mustRead(segModelFile, classify.SegDim) }}

func mustModel() *classify.Model { return mustRead(modelFile, classify.Dim) }

func mustRead(data []byte, dim int) *classify.Model {
	m, err := classify.Read(data)
	if err == nil && m.Dim != dim {
		err = fmt.Errorf("%d buckets, want %d", m.Dim, dim)
	}
	if err != nil {
		panic("guard: embedded model: " + err.Error())
	}
	return m
}

// DefaultThreshold is the score from which Score calls a text an
// injection; it was tuned on the training split (see BENCHMARKS.md).
func DefaultThreshold() float64 { return model.Get().Threshold }

// Score rates text for prompt injection with the default threshold. It is
// safe for concurrent use.
func Score(text string) Result { return Analyze(text).Result }

// Scanner scores with a chosen threshold and an optional second opinion.
// The zero Scanner is Score. A Scanner is safe for concurrent use when its
// SecondOpinion is.
type Scanner struct {
	// Threshold replaces the default threshold when positive.
	Threshold float64
	// SecondOpinion, if set, decides texts whose score is within Margin of
	// the threshold. Off by default.
	SecondOpinion SecondOpinion
	// Margin is the borderline band around the threshold; zero means 0.15.
	Margin float64
}

// Score rates text; an error of the second opinion leaves the score's own
// verdict and adds a reason.
func (s *Scanner) Score(ctx context.Context, text string) Result {
	t := DefaultThreshold()
	if s.Threshold > 0 {
		t = s.Threshold
	}
	r := Analyze(text).Result
	r.Injection = r.Score >= t
	margin := s.Margin
	if margin <= 0 {
		margin = 0.15
	}
	if s.SecondOpinion != nil && r.Score > t-margin && r.Score < t+margin {
		ok, err := s.SecondOpinion(ctx, text)
		switch {
		case err != nil:
			r.Reasons = append(r.Reasons, "second opinion failed: "+err.Error())
		default:
			r.Injection = ok
			r.Reasons = append(r.Reasons, fmt.Sprintf("second opinion: injection=%v", ok))
		}
	}
	return r
}

// Classifier windows: long texts are scored piece by piece, so that a few
// planted lines in a long page are not averaged away.
const (
	window = 2048
	stride = 1536
)

// Analyze scores text and says how. It is safe for concurrent use.
func Analyze(text string) Analysis { return analyze(text, model.Get(), segModel.Get()) }

// AnalyzeWith is Analyze with the given models instead of the embedded
// ones: for the training command, which scores with models it has not
// written yet.
func AnalyzeWith(text string, m, seg *classify.Model) Analysis { return analyze(text, m, seg) }

func analyze(text string, m, sm *classify.Model) Analysis {
	norm := Normalize(text)
	view := detectorView(norm)
	var reasons []string
	weights := map[string]float64{} // per detector, the strongest hit
	add := func(hits []hit, where string) {
		for _, h := range hits {
			if h.weight > weights[h.detector] {
				weights[h.detector] = h.weight
			}
			r := h.detector
			if where != "" {
				r += " (in " + where + " text)"
			}
			if h.quoted {
				r += " (quoted)"
			}
			reasons = append(reasons, r+": "+clip(h.match, 80))
		}
	}
	hits := detect(view)
	add(hits, "")
	// The classifier does not see phrases cited in quotes, so that an
	// article about an attack is not scored as the attack.
	cview := view
	var cited []string
	for _, h := range hits {
		if h.quoted {
			cview = strings.ReplaceAll(cview, h.match, " ")
			cited = append(cited, h.match)
		}
	}
	clf := calibrate(classifierProb(m, cview), m.ProbThreshold, m.Threshold)
	hidden := 0.0
	if t := hiddenTagText(text); len(t) >= 4 {
		hidden = 0.6
		reasons = append(reasons, DetectHidden+": text in invisible Unicode tag characters: "+clip(t, 80))
		tv := detectorView(t)
		add(detect(tv), "invisible")
		clf = max(clf, calibrate(classifierProb(m, tv), m.ProbThreshold, m.Threshold))
	}
	if bidi, zw := countControls(text); bidi >= 2 || zw >= 8 {
		hidden = max(hidden, 0.3)
		reasons = append(reasons, fmt.Sprintf("%s: %d bidi controls, %d zero-width characters", DetectHidden, bidi, zw))
	}
	if hidden > 0 {
		weights[DetectHidden] = hidden
	}
	for _, seg := range DecodeSegments(norm) {
		sv := detectorView(Normalize(seg.Text))
		add(detect(sv), seg.Encoding)
		if p := calibrate(classifierProb(m, sv), m.ProbThreshold, m.Threshold); p > clf && len(sv) >= 64 {
			clf = p
			reasons = append(reasons, fmt.Sprintf("classifier on %s text: %.2f", seg.Encoding, p))
		}
	}
	det, strongest := 1.0, 0.0
	for _, w := range weights {
		det *= 1 - w
		strongest = max(strongest, w)
	}
	det = 1 - det
	// The detectors and a model's evidence add up (noisy-OR) only when
	// one detector hit is strong on its own; weak or quoted hits, however
	// many, do not push a borderline model score over the threshold.
	combine := func(p float64) float64 {
		if strongest >= 0.5 {
			return 1 - (1-det)*(1-p)
		}
		return max(det, p)
	}
	score := combine(clf)
	if clf >= 0.5 {
		reasons = append(reasons, fmt.Sprintf("classifier: %.2f", clf))
	}
	spans, seg := scoreSegments(text, cited, sm, m.Threshold)
	if seg >= m.Threshold && len(spans) > 0 {
		reasons = append(reasons, fmt.Sprintf("%s: %.2f: %s", DetectPlanted, seg, clip(spans[0].Text, 80)))
	}
	// A strong detector hit and a segment that reads as a planted
	// instruction are two signs of one attack.
	score = max(score, seg, combine(seg))
	sort.Strings(reasons)
	if reasons == nil {
		reasons = []string{}
	}
	return Analysis{
		Result:     Result{Injection: score >= m.Threshold, Score: round(score), Reasons: reasons, Segments: spans},
		Detector:   det,
		Classifier: clf,
		Segment:    seg,
	}
}

// classifierProb is the classifier's highest probability over the windows
// of the detector view v.
func classifierProb(m *classify.Model, v string) float64 {
	if len(v) <= window {
		return m.Prob(v)
	}
	p := 0.0
	for i := 0; i < len(v); i += stride {
		end := min(len(v), i+window)
		p = max(p, m.Prob(v[i:end]))
		if end == len(v) {
			break
		}
	}
	return p
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "..."
}

func round(x float64) float64 { return float64(int(x*1000+0.5)) / 1000 }
