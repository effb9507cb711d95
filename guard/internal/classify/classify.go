// Package classify is the small prompt-injection classifier of package
// guard: logistic regression over hashed character 3-5-grams and word
// unigrams and bigrams, its training, and its file format. Texts given to
// it are already normalized and lowercased by guard.
package classify

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// Dim is the number of hashed feature buckets.
const Dim = 1 << 17

// Meta is the header of a model file: what was trained, how, and the
// thresholds tuned on the training split.
type Meta struct {
	Dim       int     `json:"dim"`
	Bias      float64 `json:"bias"`
	Threshold float64 `json:"threshold"` // decision threshold on guard's combined score
	Seed      uint64  `json:"seed"`
	Examples  int     `json:"examples"`
	Epochs    int     `json:"epochs"`
	Lambda    float64 `json:"lambda"`
	Note      string  `json:"note,omitempty"`
	// ProbThreshold is the model's probability that maps to Threshold on
	// guard's score: each model is calibrated to the false-positive rate
	// wanted, and guard's score puts them on one scale.
	ProbThreshold float64 `json:"prob_threshold,omitempty"`
}

// Model is a trained classifier. It is safe for concurrent use.
type Model struct {
	Meta
	W []float32
}

// Feature kinds are hashed with different seeds so that a word and a
// character n-gram with the same bytes do not share a bucket.
const (
	seedChar   = 0x811c9dc5
	seedWord   = 0x9747b28c
	seedBigram = 0x3c6ef372
	prime      = 16777619
)

// Each calls f with the bucket of every feature of text (with repeats).
func Each(text string, f func(uint32)) {
	// Character n-grams of 3 to 5 bytes over the text padded with spaces.
	n := len(text)
	at := func(i int) byte {
		if i < 0 || i >= n {
			return ' '
		}
		return text[i]
	}
	for i := -1; i < n-1; i++ {
		h := uint32(seedChar)
		for k := 0; k < 5; k++ {
			h = (h ^ uint32(at(i+k))) * prime
			if k >= 2 {
				f(h % Dim)
			}
			if i+k >= n {
				break
			}
		}
	}
	// Words (runs of letters and digits; bytes >= 0x80 count as letters).
	var prev uint32
	havePrev := false
	for i := 0; i < n; {
		for i < n && !wordByte(text[i]) {
			i++
		}
		if i >= n {
			break
		}
		h := uint32(seedWord)
		for i < n && wordByte(text[i]) {
			h = (h ^ uint32(text[i])) * prime
			i++
		}
		f(h % Dim)
		if havePrev {
			f(((prev*31 + h) ^ seedBigram) * prime % Dim)
		}
		prev, havePrev = h, true
	}
	eachCue(text, f)
}

// seedCue hashes the cue features of the whole-text classifier.
const seedCue = 0x2545f491

// eachCue calls f with the buckets of the cue classes of text (cues.go),
// alone and in pairs: what the text does, in words of no attack family.
func eachCue(text string, f func(uint32)) {
	// Cues reads the first words only; the rest of a window need not be
	// split.
	c := Cues(text, tokens(text[:min(len(text), 640)]))
	g := func(b uint32) {
		for range 8 {
			f(b)
		}
	} // eight times: a few cues weigh against many n-grams
	var names [numCues + 1]string
	k := 0
	c.names(func(name string) { names[k] = name; k++ })
	g(hashStr(seedCue, "cues="+string(rune('0'+c.strength()))) % Dim)
	for i := 0; i < k; i++ {
		g(hashStr(seedCue, names[i]) % Dim)
		for j := i + 1; j < k; j++ {
			g(hashStr(seedCue, names[i]+"+"+names[j]) % Dim)
		}
	}
}

func wordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c >= 0x80 || c == '\''
}

// Vector is a sparse feature vector: log(1+count) per bucket, scaled to
// unit length so that long and short texts weigh alike.
type Vector struct {
	Idx []uint32
	Val []float32
}

// scratch is the dense counting buffer of one call; only touched buckets
// are reset, so short texts cost little.
type scratch struct {
	count   []float32
	touched []uint32
}

var pool = sync.Pool{New: func() any { return &scratch{count: make([]float32, Dim)} }}

// Vectorize returns the feature vector of text.
func Vectorize(text string) Vector {
	s := pool.Get().(*scratch)
	defer pool.Put(s)
	s.touched = s.touched[:0]
	Each(text, func(b uint32) {
		if s.count[b] == 0 {
			s.touched = append(s.touched, b)
		}
		s.count[b]++
	})
	v := Vector{Idx: make([]uint32, len(s.touched)), Val: make([]float32, len(s.touched))}
	var norm float64
	for i, b := range s.touched {
		x := log1p(s.count[b])
		norm += x * x
		v.Idx[i], v.Val[i] = b, float32(x)
		s.count[b] = 0
	}
	if norm > 0 {
		inv := 1 / math.Sqrt(norm)
		for i := range v.Val {
			v.Val[i] = float32(float64(v.Val[i]) * inv)
		}
	}
	return v
}

// Prob returns the model's probability that text is an injection.
func (m *Model) Prob(text string) float64 {
	s := pool.Get().(*scratch)
	defer pool.Put(s)
	s.touched = s.touched[:0]
	Each(text, func(b uint32) {
		if s.count[b] == 0 {
			s.touched = append(s.touched, b)
		}
		s.count[b]++
	})
	var norm, dot float64
	for _, b := range s.touched {
		x := log1p(s.count[b])
		norm += x * x
		dot += x * float64(m.W[b])
		s.count[b] = 0
	}
	if norm > 0 {
		dot /= math.Sqrt(norm)
	}
	return sigmoid(dot + m.Bias)
}

func (m *Model) probVec(v Vector) float64 {
	var dot float64
	for i, b := range v.Idx {
		dot += float64(v.Val[i]) * float64(m.W[b])
	}
	return sigmoid(dot + m.Bias)
}

// logTable holds log(1+n) for small counts, the common case; made on
// first use, not by the package's init, which every command runs.
var logTable = lazy.Value[*[256]float64]{New: func() *[256]float64 {
	var t [256]float64
	for i := range t {
		t[i] = math.Log1p(float64(i))
	}
	return &t
}}

func log1p(c float32) float64 {
	if c < 256 {
		return logTable.Get()[int(c)]
	}
	return math.Log1p(float64(c))
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

const magic = "BWKGUARD1\n"

// Write writes m as a gzip stream: a magic line, the JSON Meta on one
// line, then Dim little-endian float32 weights. The same model always
// gives the same bytes.
func (m *Model) Write(w io.Writer) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	meta, err := json.Marshal(m.Meta)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(zw)
	bw.WriteString(magic)
	bw.Write(meta)
	bw.WriteByte('\n')
	if err := binary.Write(bw, binary.LittleEndian, m.W); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// Read reads a model written by Write.
func Read(data []byte) (*Model, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("classify: model: %w", err)
	}
	br := bufio.NewReader(zr)
	line, err := br.ReadString('\n')
	if err != nil || line != magic {
		return nil, fmt.Errorf("classify: not a model file")
	}
	metaLine, err := br.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("classify: model header: %w", err)
	}
	m := &Model{}
	if err := json.Unmarshal(metaLine, &m.Meta); err != nil {
		return nil, fmt.Errorf("classify: model header: %w", err)
	}
	if m.Dim != Dim && m.Dim != SegDim {
		return nil, fmt.Errorf("classify: model has %d buckets, this build hashes into %d or %d", m.Dim, Dim, SegDim)
	}
	m.W = make([]float32, m.Dim)
	if err := binary.Read(br, binary.LittleEndian, m.W); err != nil {
		return nil, fmt.Errorf("classify: model weights: %w", err)
	}
	return m, nil
}

// View lowercases a normalized text and collapses its runs of spaces and
// tabs (newlines are kept): what guard's detectors and the classifier read.
func View(normalized string) string {
	var b strings.Builder
	b.Grow(len(normalized))
	space := false
	for _, r := range normalized {
		switch {
		case r == ' ' || r == '\t' || r == '\u00A0' || r == '\r':
			space = true
			continue
		case space:
			b.WriteByte(' ')
			space = false
		}
		if r < utf8.RuneSelf {
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			b.WriteByte(byte(r))
		} else {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}
