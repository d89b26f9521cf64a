package search

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResultCache(t *testing.T) {
	c := newResultCache(1 << 20)
	k := resultKey{q: "coffee", limit: 10}
	hits := []Hit{{ID: "a", Name: "Coffee"}}

	_, gen, ok := c.get(k)
	if ok {
		t.Fatal("empty cache: hit")
	}
	c.put(k, gen, hits)
	hits[0].Name = "changed by the caller"
	got, _, ok := c.get(k)
	if !ok || got[0].Name != "Coffee" {
		t.Fatalf("get = %v, %v; want the stored copy", got, ok)
	}
	got[0].Name = "changed by the caller"
	if again, _, _ := c.get(k); again[0].Name != "Coffee" {
		t.Fatalf("a caller's change reached the cache: %v", again)
	}
	if h, m := c.hits.Load(), c.misses.Load(); h != 2 || m != 1 {
		t.Errorf("hits, misses = %d, %d; want 2, 1", h, m)
	}

	// A write drops what is cached.
	c.bump()
	if _, _, ok := c.get(k); ok {
		t.Fatal("hit after a write")
	}
	// A result computed before a write, stored after it, is dropped: the
	// write may or may not be in it.
	_, before, _ := c.get(k)
	c.bump()
	c.put(k, before, hits)
	if _, _, ok := c.get(k); ok {
		t.Fatal("a result from before the last write was served")
	}
}

func TestResultCacheIsBounded(t *testing.T) {
	const max = 64 << 10
	c := newResultCache(max)
	long := strings.Repeat("x", 1000)
	for i := range 1000 {
		k := resultKey{q: fmt.Sprint("q", i), limit: 10}
		_, gen, _ := c.get(k)
		c.put(k, gen, []Hit{{ID: "a", Description: long}, {ID: "b", Description: long}})
		if c.bytes > max {
			t.Fatalf("after %d puts the cache holds %d bytes, over %d", i+1, c.bytes, max)
		}
	}
	if len(c.entries) == 0 {
		t.Fatal("nothing cached")
	}
	// A result bigger than the whole cache is not kept.
	k := resultKey{q: "huge", limit: 100}
	_, gen, _ := c.get(k)
	c.put(k, gen, []Hit{{ID: "a", Description: strings.Repeat("x", max)}})
	if _, _, ok := c.get(k); ok {
		t.Fatal("a result over the bound was cached")
	}
}

// A repeated search is answered from the cache, and an indexed change is
// seen by the next search all the same.
func TestSearchCacheFollowsWrites(t *testing.T) {
	svc, _ := newService(t)
	feedSamples(t, svc)
	first := search(t, svc, "coffee")
	if len(first) == 0 {
		t.Fatal("coffee finds nothing")
	}
	if diff := cmp.Diff(first, search(t, svc, "coffee")); diff != "" {
		t.Errorf("second search differs (-first +second):\n%s", diff)
	}
	if h, m := svc.idx.CacheStats(); h != 1 || m != 1 {
		t.Errorf("cache hits, misses = %d, %d; want 1, 1", h, m)
	}
	p := Product{ID: "new", Name: "Coffee Coffee Coffee", Description: "coffee", PriceCents: 100, Currency: "USD", Version: 1}
	if err := svc.HandleCatalogEvent(context.Background(), productEvent(t, EventProductCreated, p)); err != nil {
		t.Fatal(err)
	}
	if got := ids(search(t, svc, "coffee")); len(got) == 0 || got[0] != "new" {
		t.Errorf("after indexing a new product, coffee = %v; want it first", got)
	}
	// An event that changes nothing (an old version) keeps the cache.
	if err := svc.HandleCatalogEvent(context.Background(), productEvent(t, EventProductCreated, p)); err != nil {
		t.Fatal(err)
	}
	search(t, svc, "coffee")
	if h, m := svc.idx.CacheStats(); h != 2 || m != 2 {
		t.Errorf("cache hits, misses = %d, %d; want 2, 2", h, m)
	}
}
