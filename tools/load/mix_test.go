package load

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMix(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]int
	}{
		{"order=100", map[string]int{"order": 100}},
		{"browse=60, order=30,search=10", map[string]int{"browse": 60, "order": 30, "search": 10}},
		{"browse=1,order=0", map[string]int{"browse": 1}},
		{DefaultMix, map[string]int{"browse": 30, "product": 30, "search": 15, "order": 15, "login": 5, "signup": 5}},
	}
	for _, tt := range tests {
		m, err := ParseMix(tt.in)
		if err != nil {
			t.Errorf("ParseMix(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, m.Map()); diff != "" {
			t.Errorf("ParseMix(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestParseMixErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"checkout=10", "unknown journey"},
		{"browse=-1", "weight"},
		{"browse=ten", "weight"},
		{"browse=1.5", "weight"},
		{"browse", "name=weight"},
		{"browse=1,browse=2", "twice"},
		{"browse=0,order=0", "sum to 0"},
		{"", "sum to 0"},
	}
	for _, tt := range tests {
		_, err := ParseMix(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseMix(%q): got error %v, want one containing %q", tt.in, err, tt.want)
		}
	}
}

// TestMixWeightsHonoured picks many journeys with a fixed seed and checks
// the counts against the weights with a chi-square statistic: with 5
// degrees of freedom, 20.5 is exceeded by chance once in 1000 runs, and a
// wrong weighting (say one journey off by a tenth) is far above it.
func TestMixWeightsHonoured(t *testing.T) {
	tests := []string{DefaultMix, "browse=1,order=3", "signup=1,login=1,browse=1,search=1,product=1,order=1", "order=100"}
	for _, in := range tests {
		m, err := ParseMix(in)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, 2))
		const n = 200000
		var counts [numJourneys]int
		for range n {
			counts[m.Pick(r.Uint64())]++
		}
		chi2 := 0.0
		for j := range counts {
			w := m.weights[j]
			if w == 0 {
				if counts[j] != 0 {
					t.Errorf("mix %q: journey %s has weight 0 but was picked %d times", in, Journeys[j], counts[j])
				}
				continue
			}
			exp := float64(n) * float64(w) / float64(m.total)
			d := float64(counts[j]) - exp
			chi2 += d * d / exp
		}
		if chi2 > 20.5 {
			t.Errorf("mix %q: chi-square %.1f over %v, want under 20.5", in, chi2, counts)
		}
	}
}

// TestMixPickBounds checks the edges of the cumulative table: the lowest
// and highest numbers map to the first and last weighted journeys.
func TestMixPickBounds(t *testing.T) {
	m, _ := ParseMix("login=1,order=1")
	if got := m.Pick(0); Journeys[got] != "login" {
		t.Errorf("Pick(0) = %s, want login", Journeys[got])
	}
	if got := m.Pick(1); Journeys[got] != "order" {
		t.Errorf("Pick(1) = %s, want order", Journeys[got])
	}
	if got := m.Pick(^uint64(0)); Journeys[got] != "order" {
		t.Errorf("Pick(max) = %s, want order", Journeys[got])
	}
}
