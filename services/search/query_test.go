package search

import (
	"strings"
	"testing"

	"github.com/blevesearch/bleve/v2/search/query"
)

// A query's costly part, fuzzy matching, is bounded: a long query or a
// repeated word builds no more automata than maxFuzzyWords distinct words.
func TestFuzzyMatchingIsBounded(t *testing.T) {
	count := func(q string) (fuzzy, prefixes int) {
		d, ok := buildQuery(q).(*query.DisjunctionQuery)
		if !ok {
			t.Fatalf("buildQuery(%q) is %T", q, buildQuery(q))
		}
		for _, sub := range d.Disjuncts {
			switch sub.(type) {
			case *query.FuzzyQuery:
				fuzzy++
			case *query.PrefixQuery:
				prefixes++
			}
		}
		return fuzzy, prefixes
	}
	tests := []struct {
		q               string
		fuzzy, prefixes int
	}{
		{"kettle", 2, 2}, // name and description
		{"darjeeling yirgacheffe stoneware porcelain ceramics enamelled stainless japanese", 6, 16}, // three words for typos, eight for prefixes
		{strings.Repeat("coffee ", 28), 2, 16},
		{"tea cup mug", 0, 6}, // under four letters: no typo allowed
	}
	for _, tt := range tests {
		if f, p := count(tt.q); f != tt.fuzzy || p != tt.prefixes {
			t.Errorf("%q: %d fuzzy and %d prefix queries, want %d and %d", tt.q, f, p, tt.fuzzy, tt.prefixes)
		}
	}
}
