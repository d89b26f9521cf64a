// Package search is the search service: a full-text index of the products
// (a read model, CQRS style) kept up to date by the catalog's events and
// queried by the storefront's search box.
//
// # Index
//
// The index is a bleve index on local disk, <data>/search/<instance>/
// index.bleve: it is the service's database, so the service has no SQL
// database. Name and description are analysed in English (lower case,
// stemming, stop words); a query matches words, word prefixes ("cof") and
// words with one or two typos ("cofee"), name matches weighing more than
// description matches. Each product is stored with its catalog version:
// an event whose version is not newer than the indexed one is ignored, so
// redelivered, replayed and reordered events are harmless, and indexing
// needs no inbox. A bleve batch returns once it is on disk, so an event is
// acknowledged only after its effect is durable.
//
// # Feeding every instance
//
// Every instance keeps its own index and so must see every event: each
// consumes the catalog stream (subject catalog.>, PRODUCT_CREATED and
// PRODUCT_UPDATED; other types are acknowledged and ignored) through its
// own durable consumer, "search-products-<instance>", instead of one
// durable shared by the service. An index remembers the durable that feeds
// it. When the index is new (first start, a lost disk, a schema change) or
// was fed by another durable, the instance deletes its durable before
// consuming, so that it is created again and delivers from the start of the
// stream; only then does it record the durable in the index. A crash in
// between deletes it again on the next start, which only replays events.
//
// The stream keeps events for a limited time (30 days by default), so a new
// index also copies the catalog as it is now, page by page through the
// catalog's public list, in a background worker that retries until it is
// done and records completion in the index. Snapshot and events may arrive
// in any order: versions decide.
//
// A new instance serves fewer results until it has caught up; search is a
// read model, eventually consistent by design. An instance name that
// changes on every start (the random default when SOUK_INSTANCE is unset)
// gets a new index and a new durable each time: set SOUK_INSTANCE to a
// stable name (souk up does; a StatefulSet in Kubernetes) and delete the
// durables of retired instances.
//
// # Queries
//
// Queries are built from match, prefix and fuzzy queries, never parsed with
// bleve's query-string syntax, so quotes, operators and any unicode in q
// are just text. q is 1 to 200 characters; only its first 8 words get
// prefix matching and only its first 3 distinct words of four letters or
// more fuzzy matching, which bounds the cost of a query.
//
// Results are cached per query and limit until the next write to the
// index (a generation bumped after each write), so a repeated query
// costs a map lookup and never answers from before a write that had
// returned when it began. Fuzzy matching is what makes a miss costly:
// bleve builds a Levenshtein automaton per word and field.
package search

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
)

// Limits of a query.
const (
	MaxQueryLen  = 200 // characters
	DefaultLimit = 20
	MaxLimit     = 100
	// maxExpandedWords bounds the words of a query that get prefix and
	// fuzzy matching, each of which walks the term dictionary.
	maxExpandedWords = 8
	// maxFuzzyWords bounds, among those, the words that get fuzzy
	// matching: its automaton is the costly part of a query (~1 ms of CPU
	// and 0.8 MB per field for a word of 8 letters or more, which allows
	// two typos), and a query of eight long words cost 18 ms and 12 MB.
	maxFuzzyWords = 3
)

// Product is a product as the index keeps it.
type Product struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	PriceCents  int64  `json:"price_cents"`
	Currency    string `json:"currency"`
	Version     int64  `json:"version"`
}

// Hit is a product found by a query, with its relevance.
type Hit struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Description string  `json:"description"`
	PriceCents  int64   `json:"price_cents"`
	Currency    string  `json:"currency"`
	Score       float64 `json:"score"`
}

// validateQuery checks q and limit, naming each bad one.
func validateQuery(q string, limit int) error {
	var v httpapi.Validator
	v.Check(utf8.ValidString(q) && strings.TrimSpace(q) != "" && utf8.RuneCountInString(q) <= MaxQueryLen,
		"q", "must be 1 to 200 characters of text, not blank")
	v.Check(limit >= 1 && limit <= MaxLimit, "limit", "must be 1 to 100")
	return v.Err()
}

// words splits q into lower-case words of letters and digits, the first
// maxExpandedWords of them.
func words(q string) []string {
	ws := strings.FieldsFunc(strings.ToLower(q), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	})
	return ws[:min(len(ws), maxExpandedWords)]
}

func errBadLimit() error {
	return fault.Fields(fault.FieldError{Field: "limit", Message: "must be an integer from 1 to 100"})
}
