package search

import (
	"context"
	"testing"
)

// BenchmarkSearch is one query over the sample catalog, answered by the
// index (a miss: the cost of a query the cache has not seen) and by the
// cache (a hit): match, prefix and fuzzy queries on name and description
// for one word, of six letters (one typo allowed) and of ten (two).
func BenchmarkSearch(b *testing.B) {
	svc, _ := newService(b)
	feedSamples(b, svc)
	ctx := context.Background()
	for _, q := range []string{"kettle", "darjeeling"} {
		b.Run(q+"/miss", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				svc.idx.results.bump()
				if _, err := svc.Search(ctx, q, 20); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(q+"/hit", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.Search(ctx, q, 20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
