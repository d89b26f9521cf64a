package legacy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/sampledata"
)

// Store is the monolith's SQL: every query of every feature, against one
// database.
type Store struct {
	db *sqlstore.DB
}

// NewStore returns a Store over db, which must have the package's
// Migrations applied.
func NewStore(db *sqlstore.DB) *Store { return &Store{db: db} }

// salesEpoch is when the fake sales history begins.
var salesEpoch = time.Date(2019, 3, 1, 9, 0, 0, 0, time.UTC)

// Seed fills an empty database with products (their stock included) and a
// fixed history of fake sales, in one transaction, and returns how many
// products it inserted: 0 when the database already had products.
func (s *Store) Seed(ctx context.Context, products []sampledata.Product) (int, error) {
	inserted := 0
	err := s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		inserted = 0
		var n int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM products`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		for i, p := range products {
			if _, err := tx.Exec(ctx, `INSERT INTO products (id, name, description, price_cents, currency, stock)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
				p.ID, p.Name, p.Description, p.PriceCents, p.Currency, p.InitialStock); err != nil {
				return err
			}
			inserted++
			// One to four sales of one to three units per product, the same
			// on every run.
			for j := 0; j <= i%4; j++ {
				qty := int64((i+j)%3 + 1)
				at := salesEpoch.Add(time.Duration(i*4+j) * 37 * time.Hour)
				if _, err := tx.Exec(ctx, `INSERT INTO sales (id, product_id, quantity, amount_cents, sold_at)
					VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
					i*10+j+1, p.ID, qty, qty*p.PriceCents, at.UnixMilli()); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("seed legacy database: %w", err)
	}
	return inserted, nil
}

const productColumns = `id, name, description, price_cents, currency`

// List returns up to limit products with ids after after, in id order.
func (s *Store) List(ctx context.Context, after string, limit int) ([]Product, error) {
	rows, err := s.db.Query(ctx, `SELECT `+productColumns+` FROM products WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	defer rows.Close()
	out := []Product{}
	for rows.Next() {
		var p Product
		if err := rows.Scan(&p.ID, &p.Name, &p.Description, &p.PriceCents, &p.Currency); err != nil {
			return nil, fmt.Errorf("list products: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	return out, nil
}

// Page returns one page of the product list from an opaque cursor.
// Errors: fault.Invalid for a bad limit or cursor.
func (s *Store) Page(ctx context.Context, cursor string, limit int) (Page, error) {
	if limit < 1 || limit > MaxPageSize {
		return Page{}, fault.Fields(fault.FieldError{Field: "limit", Message: fmt.Sprintf("must be 1 to %d", MaxPageSize)})
	}
	after, err := decodeCursor(cursor)
	if err != nil {
		return Page{}, err
	}
	items, err := s.List(ctx, after, limit+1)
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

// Product returns the page of product id. Errors: fault.Invalid for an id
// of impossible length, fault.NotFound when there is no such product.
func (s *Store) Product(ctx context.Context, id string) (ProductPage, error) {
	if err := checkID(id); err != nil {
		return ProductPage{}, err
	}
	p := ProductPage{Recommendations: []any{}}
	err := s.db.QueryRow(ctx, `SELECT `+productColumns+`, stock FROM products WHERE id = ?`, id).
		Scan(&p.ID, &p.Name, &p.Description, &p.PriceCents, &p.Currency, &p.Stock.Available)
	if errors.Is(err, sql.ErrNoRows) {
		return ProductPage{}, fault.NotFoundf("no product %q", id)
	}
	if err != nil {
		return ProductPage{}, fmt.Errorf("get product %s: %w", id, err)
	}
	return p, nil
}

// Search finds products whose name or description contains q, ignoring
// ASCII case: names first. Errors: fault.Invalid for a blank or overlong q
// or a limit out of range.
func (s *Store) Search(ctx context.Context, q string, limit int) ([]Hit, error) {
	if err := checkQuery(q); err != nil {
		return nil, err
	}
	if limit < 1 || limit > MaxPageSize {
		return nil, fault.Fields(fault.FieldError{Field: "limit", Message: fmt.Sprintf("must be 1 to %d", MaxPageSize)})
	}
	pat := likePattern(q)
	rows, err := s.db.Query(ctx, `SELECT `+productColumns+`,
			CASE WHEN LOWER(name) LIKE ? ESCAPE '\' THEN 2 ELSE 1 END AS score
		FROM products
		WHERE LOWER(name) LIKE ? ESCAPE '\' OR LOWER(description) LIKE ? ESCAPE '\'
		ORDER BY score DESC, id
		LIMIT ?`, pat, pat, pat, limit)
	if err != nil {
		return nil, fmt.Errorf("search %q: %w", q, err)
	}
	defer rows.Close()
	out := []Hit{}
	for rows.Next() {
		var h Hit
		var score int64
		if err := rows.Scan(&h.ID, &h.Name, &h.Description, &h.PriceCents, &h.Currency, &score); err != nil {
			return nil, fmt.Errorf("search %q: %w", q, err)
		}
		h.Score = float64(score)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search %q: %w", q, err)
	}
	return out, nil
}

// SalesReport sums the sales of each product and returns the top products
// by revenue, with the totals of all sales. Errors: fault.Invalid for top
// out of 1 to MaxPageSize.
func (s *Store) SalesReport(ctx context.Context, top int) (Report, error) {
	if top < 1 || top > MaxPageSize {
		return Report{}, fault.Fields(fault.FieldError{Field: "top", Message: fmt.Sprintf("must be 1 to %d", MaxPageSize)})
	}
	r := Report{Report: "sales by product", Rows: []ReportRow{}}
	err := s.db.ReadTx(ctx, func(tx *sqlstore.Tx) error {
		// The kind of query a monolith makes without a thought and a set of
		// services cannot: a join across what would be two databases.
		rows, err := tx.Query(ctx, `SELECT p.id, p.name, p.currency, CAST(SUM(s.quantity) AS BIGINT) AS units, CAST(SUM(s.amount_cents) AS BIGINT) AS revenue
			FROM sales s JOIN products p ON p.id = s.product_id
			GROUP BY p.id, p.name, p.currency
			ORDER BY revenue DESC, p.id
			LIMIT ?`, top)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var row ReportRow
			if err := rows.Scan(&row.ProductID, &row.Name, &row.Currency, &row.Units, &row.RevenueCents); err != nil {
				return err
			}
			r.Rows = append(r.Rows, row)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT), CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT) FROM sales`).Scan(&r.TotalUnits, &r.TotalCents)
	})
	if err != nil {
		return Report{}, fmt.Errorf("sales report: %w", err)
	}
	return r, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.Ping(ctx) }
