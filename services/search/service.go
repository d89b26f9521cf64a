package search

import (
	"context"
	"fmt"
)

// Service holds the search use cases over one index.
type Service struct {
	idx *Index
}

// NewService returns a Service over idx.
func NewService(idx *Index) *Service { return &Service{idx: idx} }

// Search returns up to limit products matching q, best first. Errors:
// fault.Invalid for a q that is blank, over 200 characters or not UTF-8,
// or a limit outside 1 to 100.
func (s *Service) Search(ctx context.Context, q string, limit int) ([]Hit, error) {
	if err := validateQuery(q, limit); err != nil {
		return nil, err
	}
	return s.idx.Search(ctx, q, limit)
}

// Index indexes p unless the index holds the same or a newer version.
func (s *Service) Index(p Product) (applied bool, err error) {
	return s.idx.Upsert(p)
}

// PageFunc returns the page of the catalog after cursor ("" for the first)
// and the cursor of the next page ("" after the last).
type PageFunc func(ctx context.Context, cursor string) (items []Product, next string, err error)

// Backfill copies the whole catalog into the index, page by page, unless it
// did so before, and then records that it did. It is safe to run alongside
// the event consumer: versions decide which copy of a product wins.
func (s *Service) Backfill(ctx context.Context, page PageFunc) (indexed int, err error) {
	done, err := s.idx.Backfilled()
	if err != nil || done {
		return 0, err
	}
	cursor := ""
	for {
		items, next, err := page(ctx, cursor)
		if err != nil {
			return indexed, fmt.Errorf("backfill after %q: %w", cursor, err)
		}
		for _, p := range items {
			if p.ID == "" || p.Version < 1 {
				return indexed, fmt.Errorf("backfill: catalog product %q without a version", p.ID)
			}
			applied, err := s.idx.Upsert(p)
			if err != nil {
				return indexed, fmt.Errorf("backfill: %w", err)
			}
			if applied {
				indexed++
			}
		}
		if next == "" {
			return indexed, s.idx.setBackfilled()
		}
		cursor = next
	}
}
