package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/souk/souk/platform/sqlstore"
)

// Store is the catalog's SQL.
type Store struct {
	db *sqlstore.DB
}

// NewStore returns a Store over db.
func NewStore(db *sqlstore.DB) *Store { return &Store{db: db} }

// querier is what both *sqlstore.DB and *sqlstore.Tx offer.
type querier interface {
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
	Exec(ctx context.Context, q string, args ...any) (sql.Result, error)
}

const productColumns = `id, name, description, price_cents, currency, version, created_at, updated_at`

func scanProduct(row interface{ Scan(...any) error }) (Product, error) {
	var p Product
	var created, updated int64
	err := row.Scan(&p.ID, &p.Name, &p.Description, &p.PriceCents, &p.Currency, &p.Version, &created, &updated)
	p.CreatedAt, p.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	return p, err
}

func scanProducts(rows *sql.Rows, err error) ([]Product, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Product{}
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Get returns the product id; found is false when there is none.
func (s *Store) Get(ctx context.Context, id string) (p Product, found bool, err error) {
	return s.get(ctx, s.db, id)
}

func (s *Store) get(ctx context.Context, q querier, id string) (Product, bool, error) {
	p, err := scanProduct(q.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Product{}, false, nil
	}
	if err != nil {
		return Product{}, false, fmt.Errorf("get product %s: %w", id, err)
	}
	return p, true, nil
}

// List returns up to limit products with ids after after, in id order.
func (s *Store) List(ctx context.Context, after string, limit int) ([]Product, error) {
	ps, err := scanProducts(s.db.Query(ctx, `SELECT `+productColumns+` FROM products WHERE id > ? ORDER BY id LIMIT ?`, after, limit))
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	return ps, nil
}

// Lookup returns the products among ids, in one query, in id order.
func (s *Store) Lookup(ctx context.Context, ids []string) ([]Product, error) {
	if len(ids) == 0 {
		return []Product{}, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	q := `SELECT ` + productColumns + ` FROM products WHERE id IN (?` + strings.Repeat(", ?", len(ids)-1) + `) ORDER BY id`
	ps, err := scanProducts(s.db.Query(ctx, q, args...))
	if err != nil {
		return nil, fmt.Errorf("lookup %d products: %w", len(ids), err)
	}
	return ps, nil
}

// empty reports whether the catalog has no product at all.
func (s *Store) empty(ctx context.Context, q querier) (bool, error) {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM products LIMIT 1`).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("count products: %w", err)
	}
	return false, nil
}

// insert adds p unless a product with its id exists; inserted reports which.
// ON CONFLICT DO NOTHING rather than catching the unique violation keeps a
// PostgreSQL transaction usable and makes concurrent seeders wait for each
// other instead of failing.
func (s *Store) insert(ctx context.Context, q querier, p Product) (inserted bool, err error) {
	res, err := q.Exec(ctx, `INSERT INTO products (`+productColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		p.ID, p.Name, p.Description, p.PriceCents, p.Currency, p.Version, p.CreatedAt.UnixMilli(), p.UpdatedAt.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("insert product %s: %w", p.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("insert product %s: %w", p.ID, err)
	}
	return n == 1, nil
}

// update replaces the content of product id and bumps its version, unless
// the content is already r's; changed is false then (and for a missing
// product). The comparison is in the WHERE clause so that it sees the row
// as of the update, after any concurrent writer.
func (s *Store) update(ctx context.Context, q querier, id string, r UpdateRequest, now time.Time) (p Product, changed bool, err error) {
	p, err = scanProduct(q.QueryRow(ctx, `UPDATE products
SET name = ?, description = ?, price_cents = ?, currency = ?, version = version + 1, updated_at = ?
WHERE id = ? AND NOT (name = ? AND description = ? AND price_cents = ? AND currency = ?)
RETURNING `+productColumns,
		r.Name, r.Description, r.PriceCents, r.Currency, now.UnixMilli(),
		id, r.Name, r.Description, r.PriceCents, r.Currency))
	if errors.Is(err, sql.ErrNoRows) {
		return Product{}, false, nil
	}
	if err != nil {
		return Product{}, false, fmt.Errorf("update product %s: %w", id, err)
	}
	return p, true, nil
}
