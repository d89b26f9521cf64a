package search

import (
	"sync"
	"sync/atomic"
)

// resultCache holds the results of recent queries for one state of the
// index. Every write to the index moves it to a new generation (bump, after
// the write is applied), and a result is served only in the generation it
// was computed in, so a search never answers from before a write that had
// returned when the search began: the cache is as fresh as the index.
//
// A search reads the generation before it queries the index and stores its
// result under that generation; put drops a result whose generation has
// passed, since the write that moved it may or may not be in the result.
//
// Fuzzy matching makes a miss costly: bleve builds a Levenshtein automaton
// per word and field, which with the garbage it leaves was over half of the
// service's CPU (~1.7 ms per one-word search in all), while shoppers repeat
// the same few queries and the catalog changes rarely next to how often it
// is searched (bench/cpu.sh with MIX=search=100).
type resultCache struct {
	mu      sync.Mutex
	gen     uint64
	entries map[resultKey][]Hit
	bytes   int // an estimate of what entries hold
	max     int // bytes; when a put would pass it, the cache starts over

	hits, misses atomic.Uint64
}

type resultKey struct {
	q     string
	limit int
}

// maxCacheBytes bounds the result cache of an instance.
const maxCacheBytes = 8 << 20

func newResultCache(maxBytes int) *resultCache {
	return &resultCache{entries: map[resultKey][]Hit{}, max: maxBytes}
}

// get returns the cached result of k, if any, and the generation a result
// computed now would belong to.
func (c *resultCache) get(k resultKey) (hits []Hit, gen uint64, ok bool) {
	c.mu.Lock()
	hits, ok = c.entries[k]
	gen = c.gen
	c.mu.Unlock()
	if ok {
		c.hits.Add(1)
		// A copy: callers own what Search returns.
		return append([]Hit(nil), hits...), gen, true
	}
	c.misses.Add(1)
	return nil, gen, false
}

// put stores the result of k computed in generation gen, unless the index
// has been written since.
func (c *resultCache) put(k resultKey, gen uint64, hits []Hit) {
	size := len(k.q) + 64
	for _, h := range hits {
		size += len(h.ID) + len(h.Name) + len(h.Description) + len(h.Currency) + 64
	}
	if size > c.max {
		return
	}
	hits = append([]Hit(nil), hits...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if _, ok := c.entries[k]; ok {
		return
	}
	if c.bytes+size > c.max {
		// Starting over is simpler than tracking recency, and as cheap: the
		// queries that matter come back within moments.
		clear(c.entries)
		c.bytes = 0
	}
	c.entries[k] = hits
	c.bytes += size
}

// bump starts a new generation, dropping every cached result. Call it after
// each write to the index.
func (c *resultCache) bump() {
	c.mu.Lock()
	c.gen++
	clear(c.entries)
	c.bytes = 0
	c.mu.Unlock()
}
