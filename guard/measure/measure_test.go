package measure

import (
	"strings"
	"testing"
)

func TestMeasure(t *testing.T) {
	exs := []Example{
		{Label: "injection", Source: "a"}, {Label: "injection", Source: "a"},
		{Label: "benign", Source: "a"}, {Label: "benign", Source: "b"}, {Label: "benign", Source: "b"},
	}
	scores := []float64{0.9, 0.4, 0.6, 0.1, 0.5}
	m := Measure("all", exs, scores, nil, 0.5)
	if m.TP != 1 || m.FN != 1 || m.FP != 2 || m.TN != 1 {
		t.Fatalf("Measure = %+v, want TP 1 FN 1 FP 2 TN 1", m)
	}
	if m.Recall() != 0.5 || m.FPR() != 2.0/3 || m.Precision() != 1.0/3 || m.F1() != 0.4 {
		t.Errorf("recall %v FPR %v precision %v F1 %v", m.Recall(), m.FPR(), m.Precision(), m.F1())
	}
	// Pairs (pos, neg): 0.9 beats all 3; 0.4 beats 0.1 only: 4/6.
	if !m.HasAUC || m.AUC != 4.0/6 {
		t.Errorf("AUC = %v, want %v", m.AUC, 4.0/6)
	}
	b := Group(DefaultGroupings[0], exs, scores, 0.5)
	if len(b) != 2 || b[1].Group != "b" || b[1].FP != 1 {
		t.Fatalf("Group = %+v", b)
	}
	// Group b has benign texts only: ranked against all injections.
	if !b[1].HasAUC || b[1].AUC != 3.0/4 {
		t.Errorf("AUC of a benign-only group = %v, want 0.75", b[1].AUC)
	}
}

func TestAUCTies(t *testing.T) {
	if a, _ := AUC([]float64{0.5}, []float64{0.5}); a != 0.5 {
		t.Errorf("AUC of a tie = %v, want 0.5", a)
	}
	if _, ok := AUC(nil, []float64{1}); ok {
		t.Error("AUC without injections reported as defined")
	}
}

func TestReadRejectsBadLabel(t *testing.T) {
	if _, err := Read(strings.NewReader(`{"text":"x","label":"jailbreak"}`)); err == nil {
		t.Error("Read accepted label jailbreak")
	}
	exs, err := Read(strings.NewReader("{\"text\":\"x\",\"label\":\"benign\",\"source\":\"s\",\"extra\":1}\n\n"))
	if err != nil || len(exs) != 1 || exs[0].Source != "s" {
		t.Errorf("Read = %v, %v", exs, err)
	}
}

func TestField(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{{"planted:override:man:de", 2, "planted:override"}, {"benign:man", 3, "benign:man"}, {"x", 1, "x"}} {
		if got := Field(c.in, c.n); got != c.want {
			t.Errorf("Field(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
