package recommendation

import (
	"context"
	"fmt"

	"github.com/souk/souk/platform/sqlstore"
)

// Service holds the recommendation use cases.
type Service struct {
	db    *sqlstore.DB
	store *Store
}

// NewService returns a Service over db.
func NewService(db *sqlstore.DB) *Service {
	return &Service{db: db, store: NewStore(db)}
}

// Recommend returns up to limit products to show next to productID: those
// most often bought with it, then the most popular others. Errors:
// fault.Invalid for an id of impossible length or a limit outside 1 to 20.
func (s *Service) Recommend(ctx context.Context, productID string, limit int) (Recommendations, error) {
	if err := validateRequest(productID, limit); err != nil {
		return Recommendations{}, err
	}
	items, err := s.store.boughtTogether(ctx, productID, limit)
	if err != nil {
		return Recommendations{}, err
	}
	if len(items) < limit {
		if items, err = s.fillWithPopular(ctx, productID, items, limit); err != nil {
			return Recommendations{}, err
		}
	}
	return Recommendations{ProductID: productID, Items: items}, nil
}

// fillWithPopular appends popular products to items, leaving out
// productID and those already in items, up to limit.
func (s *Service) fillWithPopular(ctx context.Context, productID string, items []Item, limit int) ([]Item, error) {
	skip := make(map[string]bool, len(items)+1)
	skip[productID] = true
	for _, it := range items {
		skip[it.ProductID] = true
	}
	// Enough candidates that skipping cannot leave the list short.
	ids, err := s.store.popular(ctx, limit+len(skip))
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if len(items) == limit {
			break
		}
		if !skip[id] {
			items = append(items, Item{ProductID: id, Score: 0, Reason: ReasonPopular})
		}
	}
	return items, nil
}

// AddOrder counts a placed order once per eventID: a repeated eventID
// changes nothing. counted reports whether this call counted it. Errors:
// fault.Invalid for an order without id, items or valid product ids.
func (s *Service) AddOrder(ctx context.Context, eventID string, o OrderPlaced) (counted bool, err error) {
	products, err := o.products()
	if err != nil {
		return false, err
	}
	err = s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		first, err := tx.Inbox(ctx, ConsumerOrders, eventID)
		if err != nil || !first {
			counted = false
			return err
		}
		counted = true
		return s.store.addOrder(ctx, tx, products)
	})
	if err != nil {
		return false, fmt.Errorf("count order %s: %w", o.OrderID, err)
	}
	return counted, nil
}
