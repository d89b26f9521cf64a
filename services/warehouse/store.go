package warehouse

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/souk/souk/platform/sqlstore"
)

// Store is the warehouse service's SQL.
type Store struct {
	db *sqlstore.DB
}

// NewStore returns a Store over db.
func NewStore(db *sqlstore.DB) *Store { return &Store{db: db} }

const taskColumns = `id, order_id, customer_id, email, items, status, created_at, shipped_at`

func scanTask(row interface{ Scan(...any) error }) (Task, error) {
	var t Task
	var items string
	var created int64
	var shipped sql.NullInt64
	if err := row.Scan(&t.ID, &t.OrderID, &t.CustomerID, &t.Email, &items, &t.Status, &created, &shipped); err != nil {
		return Task{}, err
	}
	if err := json.Unmarshal([]byte(items), &t.Items); err != nil {
		return Task{}, fmt.Errorf("task %s items: %w", t.ID, err)
	}
	t.CreatedAt = time.UnixMilli(created).UTC()
	if shipped.Valid {
		at := time.UnixMilli(shipped.Int64).UTC()
		t.ShippedAt = &at
	}
	return t, nil
}

// insert writes t unless its order has a task already: that one stays.
func (s *Store) insert(ctx context.Context, tx *sqlstore.Tx, t Task) error {
	items, err := json.Marshal(t.Items)
	if err != nil {
		return fmt.Errorf("insert task %s: %w", t.OrderID, err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO tasks (`+taskColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
ON CONFLICT (order_id) DO NOTHING`,
		t.ID, t.OrderID, t.CustomerID, t.Email, string(items), t.Status, t.CreatedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("insert task %s: %w", t.OrderID, err)
	}
	return nil
}

// task returns task id as tx sees it; found is false when there is none.
func (s *Store) task(ctx context.Context, tx *sqlstore.Tx, id string) (t Task, found bool, err error) {
	t, err = scanTask(tx.QueryRow(ctx, `SELECT `+taskColumns+` FROM tasks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Task{}, false, nil
	}
	if err != nil {
		return Task{}, false, fmt.Errorf("get task %s: %w", id, err)
	}
	return t, true, nil
}

// markShipped ships task id if it is pending and reports whether it did.
func (s *Store) markShipped(ctx context.Context, tx *sqlstore.Tx, id string, at time.Time) (bool, error) {
	res, err := tx.Exec(ctx, `UPDATE tasks SET status = ?, shipped_at = ? WHERE id = ? AND status = ?`,
		StatusShipped, at.UnixMilli(), id, StatusPending)
	if err != nil {
		return false, fmt.Errorf("ship task %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("ship task %s: %w", id, err)
	}
	return n == 1, nil
}

// list returns up to q.Limit tasks matching q, by id.
func (s *Store) list(ctx context.Context, q ListQuery) ([]Task, error) {
	var where []string
	var args []any
	if q.OrderID != "" {
		where, args = append(where, "order_id = ?"), append(args, q.OrderID)
	}
	if q.Status != "" {
		where, args = append(where, "status = ?"), append(args, q.Status)
	}
	if q.Cursor != "" {
		where, args = append(where, "id > ?"), append(args, q.Cursor)
	}
	query := `SELECT ` + taskColumns + ` FROM tasks`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := s.db.Query(ctx, query+` ORDER BY id LIMIT ?`, append(args, q.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	defer rows.Close()
	out := []Task{}
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, fmt.Errorf("list tasks: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return out, nil
}

// audit returns up to limit orders after the order id after, by order id,
// with their task count and status: MAX picks "shipped" over "pending",
// should an order ever have several tasks.
func (s *Store) audit(ctx context.Context, after string, limit int) ([]Audit, error) {
	rows, err := s.db.Query(ctx, `SELECT order_id, COUNT(*), MAX(status) FROM tasks
WHERE order_id > ?
GROUP BY order_id
ORDER BY order_id
LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("audit tasks: %w", err)
	}
	defer rows.Close()
	out := []Audit{}
	for rows.Next() {
		var a Audit
		if err := rows.Scan(&a.OrderID, &a.Tasks, &a.Status); err != nil {
			return nil, fmt.Errorf("audit tasks: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit tasks: %w", err)
	}
	return out, nil
}
