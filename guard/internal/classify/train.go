package classify

import (
	"math"
	"math/rand/v2"
)

// TrainConfig sets the training run. The same config and examples always
// give the same weights.
type TrainConfig struct {
	Seed   uint64
	Epochs int     // passes over the examples
	Lambda float64 // L2 regularisation strength
	Rate   float64 // initial learning rate
	Dim    int     // buckets; zero means Dim
}

// Train fits logistic regression by stochastic gradient descent with a
// decaying rate, visiting the examples in an order drawn from the seed,
// with positive and negative examples weighted to balance the classes.
func Train(xs []Vector, ys []bool, cfg TrainConfig) *Model {
	dim := cfg.Dim
	if dim == 0 {
		dim = Dim
	}
	m := &Model{Meta: Meta{Dim: dim, Seed: cfg.Seed, Examples: len(xs), Epochs: cfg.Epochs, Lambda: cfg.Lambda}, W: make([]float32, dim)}
	w := make([]float64, dim)
	var pos int
	for _, y := range ys {
		if y {
			pos++
		}
	}
	neg := len(ys) - pos
	wPos, wNeg := 1.0, 1.0
	if pos > 0 && neg > 0 {
		wPos, wNeg = float64(len(ys))/(2*float64(pos)), float64(len(ys))/(2*float64(neg))
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	order := make([]int, len(xs))
	for i := range order {
		order[i] = i
	}
	// Lazy L2: w is stored divided by scale, so shrinking all weights is
	// one multiplication.
	scale := 1.0
	var bias float64
	step := 0
	for e := 0; e < cfg.Epochs; e++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			step++
			rate := cfg.Rate / (1 + cfg.Rate*cfg.Lambda*float64(step))
			x := xs[i]
			var dot float64
			for k, b := range x.Idx {
				dot += float64(x.Val[k]) * w[b]
			}
			p := sigmoid(dot*scale + bias)
			y, cw := 0.0, wNeg
			if ys[i] {
				y, cw = 1, wPos
			}
			g := cw * (p - y)
			scale *= 1 - rate*cfg.Lambda
			if scale < 1e-9 {
				for b := range w {
					w[b] *= scale
				}
				scale = 1
			}
			for k, b := range x.Idx {
				w[b] -= rate * g * float64(x.Val[k]) / scale
			}
			bias -= rate * g
		}
	}
	for b := range w {
		m.W[b] = float32(w[b] * scale)
	}
	m.Bias = bias
	return m
}

// ProbVec returns the model's probability for a vectorized text.
func (m *Model) ProbVec(v Vector) float64 { return m.probVec(v) }

// Split divides the indexes of items into a training and a held-out part,
// stratified by key (the label): within each key, the indexes are shuffled
// with the seed and the first share go to training. The result depends
// only on the keys, their order and the seed.
func Split(keys []string, share float64, seed uint64) (train, test []int) {
	groups := map[string][]int{}
	var order []string
	for i, k := range keys {
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	rng := rand.New(rand.NewPCG(seed, seed^0xda942042e4dd58b5))
	for _, k := range order {
		g := groups[k]
		rng.Shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
		n := int(math.Round(share * float64(len(g))))
		train = append(train, g[:n]...)
		test = append(test, g[n:]...)
	}
	return train, test
}

// Folds assigns each of n items to one of k folds, stratified by key, for
// cross-validation on the training split.
func Folds(keys []string, k int, seed uint64) []int {
	fold := make([]int, len(keys))
	groups := map[string][]int{}
	var order []string
	for i, key := range keys {
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], i)
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
	for _, key := range order {
		g := groups[key]
		rng.Shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
		for j, i := range g {
			fold[i] = j % k
		}
	}
	return fold
}

// Combine merges guard's detector score and the classifier's probability:
// the larger of the two, raised further (noisy-OR) only when a detector hit
// is strong on its own, so that weak or quoted hits do not push a
// borderline classifier score over the threshold.
func Combine(det, clf float64) float64 {
	if det >= 0.5 {
		return 1 - (1-det)*(1-clf)
	}
	return max(det, clf)
}
