package search

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"
)

// schemaVersion names the mapping below. An index built with another one
// is deleted and rebuilt from the events when the service starts.
const schemaVersion = "1"

// Keys of the index's internal storage.
var (
	keySchema     = []byte("meta/schema")
	keyDurable    = []byte("meta/durable")
	keyBackfilled = []byte("meta/backfilled")
)

func versionKey(id string) []byte { return []byte("version/" + id) }

// Index is the full-text index of the products. It is safe for concurrent
// use.
type Index struct {
	idx bleve.Index
	// mu makes "compare versions, then write" atomic per index; writes are
	// rare next to searches, which do not take it.
	mu sync.Mutex
	// results caches recent query results until the next write.
	results *resultCache

	closeOnce sync.Once
	closeErr  error
}

// OpenIndex opens the index at path, creating it when there is none, and
// rebuilding it empty when it was made with another schema.
func OpenIndex(path string) (*Index, error) {
	idx, err := bleve.OpenUsing(path, storeConfig())
	if err == nil {
		schema, gerr := idx.GetInternal(keySchema)
		if gerr == nil && string(schema) == schemaVersion {
			return newIndex(idx), nil
		}
		// Another schema, or none (a crash right after creation): a read
		// model is rebuilt rather than migrated.
		_ = idx.Close()
		if err := os.RemoveAll(path); err != nil {
			return nil, fmt.Errorf("open index %s: remove old schema: %w", path, err)
		}
	} else if !errors.Is(err, bleve.ErrorIndexPathDoesNotExist) {
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	idx, err = bleve.NewUsing(path, indexMapping(), bleve.Config.DefaultIndexType, bleve.Config.DefaultKVStore, storeConfig())
	if err != nil {
		return nil, fmt.Errorf("create index %s: %w", path, err)
	}
	if err := idx.SetInternal(keySchema, []byte(schemaVersion)); err != nil {
		_ = idx.Close()
		return nil, fmt.Errorf("create index %s: %w", path, err)
	}
	return newIndex(idx), nil
}

func newIndex(idx bleve.Index) *Index {
	return &Index{idx: idx, results: newResultCache(maxCacheBytes)}
}

// Close closes the index; calling it again does nothing (bleve panics on
// a second close).
func (x *Index) Close() error {
	x.closeOnce.Do(func() { x.closeErr = x.idx.Close() })
	return x.closeErr
}

// lockTimeout bounds the wait for the index's file lock, held by another
// process with the same instance name: long enough for a replaced process
// to exit, short enough that a misconfigured twin fails with an error
// instead of hanging (bleve's default is to wait forever).
const lockTimeout = 10 * time.Second

func storeConfig() map[string]any {
	return map[string]any{"bolt_timeout": lockTimeout.String()}
}

func indexMapping() mapping.IndexMapping {
	text := bleve.NewTextFieldMapping()
	text.Analyzer = en.AnalyzerName
	text.IncludeTermVectors = false // no highlighting: a smaller index
	text.IncludeInAll = false       // queries name the fields
	stored := func(fm *mapping.FieldMapping) *mapping.FieldMapping {
		fm.Index, fm.IncludeInAll = false, false // returned with hits, never searched
		return fm
	}
	doc := bleve.NewDocumentStaticMapping()
	doc.AddFieldMappingsAt("name", text)
	doc.AddFieldMappingsAt("description", text)
	doc.AddFieldMappingsAt("price_cents", stored(bleve.NewNumericFieldMapping()))
	doc.AddFieldMappingsAt("currency", stored(bleve.NewKeywordFieldMapping()))

	m := bleve.NewIndexMapping()
	m.DefaultMapping = doc
	m.DefaultAnalyzer = en.AnalyzerName
	m.StoreDynamic, m.IndexDynamic, m.DocValuesDynamic = false, false, false
	return m
}

// document is what the index stores of a product besides its id.
type document struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	PriceCents  float64 `json:"price_cents"` // bleve numbers are float64; cents up to 1e10 are exact
	Currency    string  `json:"currency"`
}

// Upsert indexes p unless the index holds the same or a newer version of
// it; applied reports which. The document and its version are written in
// one batch, which returns once it is on disk.
func (x *Index) Upsert(p Product) (applied bool, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	cur, err := x.version(p.ID)
	if err != nil {
		return false, err
	}
	if p.Version <= cur {
		return false, nil
	}
	b := x.idx.NewBatch()
	if err := b.Index(p.ID, document{Name: p.Name, Description: p.Description, PriceCents: float64(p.PriceCents), Currency: p.Currency}); err != nil {
		return false, fmt.Errorf("index product %s: %w", p.ID, err)
	}
	b.SetInternal(versionKey(p.ID), []byte(strconv.FormatInt(p.Version, 10)))
	// After the batch, failed or not (it may have been applied in part):
	// cached results from before it are stale.
	defer x.results.bump()
	if err := x.idx.Batch(b); err != nil {
		return false, fmt.Errorf("index product %s: %w", p.ID, err)
	}
	return true, nil
}

// version returns the indexed version of product id, 0 when not indexed.
func (x *Index) version(id string) (int64, error) {
	b, err := x.idx.GetInternal(versionKey(id))
	if err != nil {
		return 0, fmt.Errorf("version of %s: %w", id, err)
	}
	if b == nil {
		return 0, nil
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("version of %s: %w", id, err)
	}
	return v, nil
}

// Search returns up to limit products matching q, best first (ties by id).
// A query asked before, with no write to the index since, is answered from
// the cache.
func (x *Index) Search(ctx context.Context, q string, limit int) ([]Hit, error) {
	key := resultKey{q: q, limit: limit}
	hits, gen, ok := x.results.get(key)
	if ok {
		return hits, nil
	}
	hits, err := x.search(ctx, q, limit)
	if err != nil {
		return nil, err
	}
	x.results.put(key, gen, hits)
	return hits, nil
}

// CacheStats returns how many searches the result cache answered, and how
// many it did not.
func (x *Index) CacheStats() (hits, misses uint64) {
	return x.results.hits.Load(), x.results.misses.Load()
}

func (x *Index) search(ctx context.Context, q string, limit int) ([]Hit, error) {
	req := bleve.NewSearchRequestOptions(buildQuery(q), limit, 0, false)
	req.Fields = []string{"name", "description", "price_cents", "currency"}
	req.SortBy([]string{"-_score", "_id"})
	res, err := x.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	hits := make([]Hit, 0, len(res.Hits))
	for _, h := range res.Hits {
		hit := Hit{ID: h.ID, Score: h.Score}
		hit.Name, _ = h.Fields["name"].(string)
		hit.Description, _ = h.Fields["description"].(string)
		hit.Currency, _ = h.Fields["currency"].(string)
		price, _ := h.Fields["price_cents"].(float64)
		hit.PriceCents = int64(price)
		hits = append(hits, hit)
	}
	return hits, nil
}

// Boosts: a match in the name counts more than one in the description, an
// exact word more than a prefix, a prefix more than a typo.
const (
	boostName        = 3
	boostNamePrefix  = 2
	boostNameFuzzy   = 1
	boostDescription = 1
	boostDescPrefix  = 0.5
	boostDescFuzzy   = 0.3
)

// buildQuery returns the query for the user's text q: a match of its words
// (analysed like the fields) in name and description, plus prefix and
// fuzzy matches of its first words (prefixes of up to maxExpandedWords,
// typos in up to maxFuzzyWords distinct words). Nothing in q is syntax.
func buildQuery(q string) query.Query {
	var qs []query.Query
	for _, f := range []struct {
		field string
		boost float64
	}{{"name", boostName}, {"description", boostDescription}} {
		m := bleve.NewMatchQuery(q)
		m.SetField(f.field)
		m.SetBoost(f.boost)
		qs = append(qs, m)
	}
	fuzzyWords := map[string]bool{}
	for _, w := range words(q) {
		n := len([]rune(w))
		if n >= 2 {
			qs = append(qs, prefix(w, "name", boostNamePrefix), prefix(w, "description", boostDescPrefix))
		}
		if n >= 4 && !fuzzyWords[w] && len(fuzzyWords) < maxFuzzyWords {
			fuzzyWords[w] = true
			fuzz := 1
			if n >= 8 {
				fuzz = 2
			}
			qs = append(qs, fuzzy(w, fuzz, "name", boostNameFuzzy), fuzzy(w, fuzz, "description", boostDescFuzzy))
		}
	}
	return bleve.NewDisjunctionQuery(qs...)
}

func prefix(w, field string, boost float64) query.Query {
	q := bleve.NewPrefixQuery(w)
	q.SetField(field)
	q.SetBoost(boost)
	return q
}

func fuzzy(w string, fuzziness int, field string, boost float64) query.Query {
	q := bleve.NewFuzzyQuery(w)
	q.SetField(field)
	q.SetFuzziness(fuzziness)
	q.SetBoost(boost)
	return q
}

// Durable returns the name of the durable consumer that feeds the index,
// "" for a new index.
func (x *Index) Durable() (string, error) {
	b, err := x.idx.GetInternal(keyDurable)
	if err != nil {
		return "", fmt.Errorf("index durable: %w", err)
	}
	return string(b), nil
}

// SetDurable records the durable consumer that feeds the index.
func (x *Index) SetDurable(name string) error {
	if err := x.idx.SetInternal(keyDurable, []byte(name)); err != nil {
		return fmt.Errorf("set index durable: %w", err)
	}
	return nil
}

// Backfilled reports whether the index has copied the catalog once.
func (x *Index) Backfilled() (bool, error) {
	b, err := x.idx.GetInternal(keyBackfilled)
	if err != nil {
		return false, fmt.Errorf("index backfilled: %w", err)
	}
	return b != nil, nil
}

func (x *Index) setBackfilled() error {
	if err := x.idx.SetInternal(keyBackfilled, []byte("1")); err != nil {
		return fmt.Errorf("set index backfilled: %w", err)
	}
	return nil
}
