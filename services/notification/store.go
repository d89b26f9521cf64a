package notification

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/souk/souk/platform/sqlstore"
)

// Store is the notification service's SQL.
type Store struct {
	db *sqlstore.DB
}

// NewStore returns a Store over db.
func NewStore(db *sqlstore.DB) *Store { return &Store{db: db} }

const messageColumns = `id, event_id, user_id, order_id, kind, to_email, subject, body, created_at`

// insert writes m unless a message for its event exists already, which
// only happens when the inbox row was pruned before a late redelivery: the
// message is then already there, so doing nothing is right.
func (s *Store) insert(ctx context.Context, tx *sqlstore.Tx, m Message) error {
	_, err := tx.Exec(ctx, `INSERT INTO messages (`+messageColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (event_id) DO NOTHING`,
		m.ID, m.EventID, m.UserID, m.OrderID, m.Kind, m.To, m.Subject, m.Body, m.CreatedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("insert message %s: %w", m.ID, err)
	}
	return nil
}

// list returns up to limit messages of userID, newest first, after the
// position after (nil for the start).
func (s *Store) list(ctx context.Context, userID string, after *cursor, limit int) ([]Message, error) {
	var rows *sql.Rows
	var err error
	if after == nil {
		rows, err = s.db.Query(ctx, `SELECT `+messageColumns+` FROM messages WHERE user_id = ?
ORDER BY created_at DESC, id DESC LIMIT ?`, userID, limit)
	} else {
		rows, err = s.db.Query(ctx, `SELECT `+messageColumns+` FROM messages
WHERE user_id = ? AND (created_at, id) < (?, ?)
ORDER BY created_at DESC, id DESC LIMIT ?`, userID, after.createdAt, after.id, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	defer rows.Close()
	out := []Message{}
	for rows.Next() {
		var m Message
		var created int64
		if err := rows.Scan(&m.ID, &m.EventID, &m.UserID, &m.OrderID, &m.Kind, &m.To, &m.Subject, &m.Body, &created); err != nil {
			return nil, fmt.Errorf("list messages: %w", err)
		}
		m.CreatedAt = time.UnixMilli(created).UTC()
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	return out, nil
}

// audit returns up to limit (order id, kind) counts after the position
// after, in that order. Row-value comparisons (SQLite 3.15+, PostgreSQL)
// let both engines seek the index to the cursor.
func (s *Store) audit(ctx context.Context, after auditCursor, limit int) ([]Audit, error) {
	rows, err := s.db.Query(ctx, `SELECT order_id, kind, COUNT(*) FROM messages
WHERE (order_id, kind) > (?, ?)
GROUP BY order_id, kind
ORDER BY order_id, kind
LIMIT ?`, after.orderID, after.kind, limit)
	if err != nil {
		return nil, fmt.Errorf("audit messages: %w", err)
	}
	defer rows.Close()
	out := []Audit{}
	for rows.Next() {
		var a Audit
		if err := rows.Scan(&a.OrderID, &a.Kind, &a.Count); err != nil {
			return nil, fmt.Errorf("audit messages: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit messages: %w", err)
	}
	return out, nil
}
