package recommendation

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/souk/souk/platform/sqlstore"
)

// Store is the recommendation service's SQL.
type Store struct {
	db *sqlstore.DB
}

// NewStore returns a Store over db.
func NewStore(db *sqlstore.DB) *Store { return &Store{db: db} }

// rowsPerInsert bounds the rows of one multi-row upsert: 3 parameters a
// row stay far below both engines' limit on parameters.
const rowsPerInsert = 300

// addOrder counts one order holding products (distinct, in order): each
// product once in popularity, each ordered pair once in pairs. Rows are
// written in key order, which is what keeps concurrent transactions on
// PostgreSQL from deadlocking.
func (s *Store) addOrder(ctx context.Context, tx *sqlstore.Tx, products []string) error {
	pop := make([][]any, len(products))
	for i, id := range products {
		pop[i] = []any{id}
	}
	if err := upsert(ctx, tx, `INSERT INTO popularity (product_id, count) VALUES `, `(?, 1)`,
		` ON CONFLICT (product_id) DO UPDATE SET count = popularity.count + 1`, pop); err != nil {
		return fmt.Errorf("count popularity: %w", err)
	}
	var pairs [][]any
	for _, a := range products {
		for _, b := range products {
			if a != b {
				pairs = append(pairs, []any{a, b})
			}
		}
	}
	if err := upsert(ctx, tx, `INSERT INTO pairs (product_id, other_id, count) VALUES `, `(?, ?, 1)`,
		` ON CONFLICT (product_id, other_id) DO UPDATE SET count = pairs.count + 1`, pairs); err != nil {
		return fmt.Errorf("count pairs: %w", err)
	}
	return nil
}

// upsert runs head + one values tuple per row + tail, rowsPerInsert rows
// at a time.
func upsert(ctx context.Context, tx *sqlstore.Tx, head, tuple, tail string, rows [][]any) error {
	for len(rows) > 0 {
		n := min(len(rows), rowsPerInsert)
		var args []any
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		q := head + tuple + strings.Repeat(", "+tuple, n-1) + tail
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// boughtTogether returns up to limit partners of productID, most often
// bought with it first (ties by id), scored by the share of productID's
// orders that held them.
func (s *Store) boughtTogether(ctx context.Context, productID string, limit int) ([]Item, error) {
	rows, err := s.db.Query(ctx, `SELECT p.other_id, p.count, pop.count
FROM pairs p JOIN popularity pop ON pop.product_id = p.product_id
WHERE p.product_id = ?
ORDER BY p.count DESC, p.other_id
LIMIT ?`, productID, limit)
	if err != nil {
		return nil, fmt.Errorf("bought together with %s: %w", productID, err)
	}
	defer rows.Close()
	items := []Item{}
	for rows.Next() {
		var id string
		var together, orders int64
		if err := rows.Scan(&id, &together, &orders); err != nil {
			return nil, fmt.Errorf("bought together with %s: %w", productID, err)
		}
		items = append(items, Item{ProductID: id, Score: share(together, orders), Reason: ReasonBoughtTogether})
	}
	return items, rows.Err()
}

// share is together/orders rounded to four decimals.
func share(together, orders int64) float64 {
	if orders <= 0 {
		return 0
	}
	return math.Round(float64(together)/float64(orders)*1e4) / 1e4
}

// popular returns the ids of up to limit most ordered products, most
// ordered first (ties by id).
func (s *Store) popular(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT product_id FROM popularity ORDER BY count DESC, product_id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("popular products: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("popular products: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
