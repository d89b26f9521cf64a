package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/sampledata"
)

// Service holds the catalog use cases.
type Service struct {
	db     *sqlstore.DB
	store  *Store
	now    func() time.Time
	notify func() // wakes the outbox relay after a commit
}

// NewService returns a Service. notify may be nil.
func NewService(db *sqlstore.DB, now func() time.Time, notify func()) *Service {
	if notify == nil {
		notify = func() {}
	}
	return &Service{db: db, store: NewStore(db), now: now, notify: notify}
}

// Seed inserts products into an empty catalog, each with its
// PRODUCT_CREATED event, in one transaction, and returns how many it
// inserted: none when the catalog already has products. Replicas seeding at
// once insert each product once, and only the inserting one emits its
// event. A sample product that fails validation is an error.
func (s *Service) Seed(ctx context.Context, products []sampledata.Product) (int, error) {
	now := s.now().UTC()
	var inserted int
	err := s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		inserted = 0
		empty, err := s.store.empty(ctx, tx)
		if err != nil || !empty {
			return err
		}
		for _, sp := range products {
			req := CreateRequest{ID: sp.ID, Name: sp.Name, Description: sp.Description, PriceCents: sp.PriceCents, Currency: sp.Currency}
			if err := req.Validate(); err != nil {
				return fmt.Errorf("sample product %s: %w", sp.ID, err)
			}
			ok, err := s.insertAndPublish(ctx, tx, newProduct(req, now))
			if err != nil {
				return err
			}
			if ok {
				inserted++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("seed catalog: %w", err)
	}
	if inserted > 0 {
		s.notify()
	}
	return inserted, nil
}

// List returns the page of products after cursor (empty for the first
// page), in id order. Errors: fault.Invalid for a bad limit or cursor.
func (s *Service) List(ctx context.Context, cursor string, limit int) (Page, error) {
	if limit < 1 || limit > MaxPageSize {
		return Page{}, fault.Fields(fault.FieldError{Field: "limit", Message: fmt.Sprintf("must be 1 to %d", MaxPageSize)})
	}
	after, err := decodeCursor(cursor)
	if err != nil {
		return Page{}, err
	}
	// One more row than asked tells whether another page follows.
	items, err := s.store.List(ctx, after, limit+1)
	if err != nil {
		return Page{}, err
	}
	page := Page{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.NextCursor = encodeCursor(items[limit-1].ID)
	}
	return page, nil
}

// Get returns product id. Errors: fault.Invalid for an id of impossible
// length, fault.NotFound when there is no such product.
func (s *Service) Get(ctx context.Context, id string) (Product, error) {
	if err := checkLookupID(id); err != nil {
		return Product{}, err
	}
	p, found, err := s.store.Get(ctx, id)
	if err != nil {
		return Product{}, err
	}
	if !found {
		return Product{}, errNotFound(id)
	}
	return p, nil
}

// Lookup returns the products among ids, in id order, leaving out unknown
// ids. Errors: fault.Invalid for no ids, more than MaxLookupIDs, or an id of
// impossible length.
func (s *Service) Lookup(ctx context.Context, ids []string) ([]Product, error) {
	if len(ids) == 0 || len(ids) > MaxLookupIDs {
		return nil, fault.Fields(fault.FieldError{Field: "ids", Message: fmt.Sprintf("must list 1 to %d product ids", MaxLookupIDs)})
	}
	seen := make(map[string]bool, len(ids))
	unique := make([]string, 0, len(ids))
	for _, id := range ids {
		if err := checkLookupID(id); err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			unique = append(unique, id)
		}
	}
	return s.store.Lookup(ctx, unique)
}

// Create adds a product at version 1 and emits PRODUCT_CREATED. Errors:
// fault.Invalid for a bad request, fault.Conflict (product_exists) when
// the id is taken.
func (s *Service) Create(ctx context.Context, req CreateRequest) (Product, error) {
	if err := req.Validate(); err != nil {
		return Product{}, err
	}
	if req.ID == "" {
		req.ID = uuid.Must(uuid.NewV7()).String()
	}
	p := newProduct(req, s.now().UTC())
	err := s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		ok, err := s.insertAndPublish(ctx, tx, p)
		if err == nil && !ok {
			err = errExists(p.ID)
		}
		return err
	})
	if err != nil {
		return Product{}, fmt.Errorf("create product %s: %w", p.ID, err)
	}
	s.notify()
	return p, nil
}

// Update replaces the content of product id, bumps its version and emits
// PRODUCT_UPDATED. Putting the content the product already has changes
// nothing and emits nothing, so a retried PUT is harmless. Errors:
// fault.Invalid for a bad request, fault.NotFound when there is no such
// product.
func (s *Service) Update(ctx context.Context, id string, req UpdateRequest) (Product, error) {
	if err := checkLookupID(id); err != nil {
		return Product{}, err
	}
	if err := req.Validate(); err != nil {
		return Product{}, err
	}
	now := s.now().UTC()
	var out Product
	changed := false
	err := s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		p, ok, err := s.store.update(ctx, tx, id, req, now)
		if err != nil {
			return err
		}
		if changed = ok; changed {
			out = p
			return publish(ctx, tx, EventProductUpdated, p)
		}
		p, found, err := s.store.get(ctx, tx, id)
		if err != nil {
			return err
		}
		if !found {
			return errNotFound(id)
		}
		out = p
		return nil
	})
	if err != nil {
		return Product{}, fmt.Errorf("update product %s: %w", id, err)
	}
	if changed {
		s.notify()
	}
	return out, nil
}

func (s *Service) insertAndPublish(ctx context.Context, tx *sqlstore.Tx, p Product) (bool, error) {
	ok, err := s.store.insert(ctx, tx, p)
	if err != nil || !ok {
		return false, err
	}
	return true, publish(ctx, tx, EventProductCreated, p)
}

func newProduct(r CreateRequest, now time.Time) Product {
	return Product{
		ID: r.ID, Name: r.Name, Description: r.Description,
		PriceCents: r.PriceCents, Currency: r.Currency,
		Version: 1, CreatedAt: now, UpdatedAt: now,
	}
}
