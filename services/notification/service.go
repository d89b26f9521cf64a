package notification

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
)

// Page sizes.
const (
	DefaultLimit      = 20
	MaxLimit          = 100
	DefaultAuditLimit = 1000
	MaxAuditLimit     = 5000
)

// Service holds the notification use cases.
type Service struct {
	db    *sqlstore.DB
	store *Store
	now   func() time.Time
}

// NewService returns a Service over db, stamping messages with now.
func NewService(db *sqlstore.DB, now func() time.Time) *Service {
	return &Service{db: db, store: NewStore(db), now: now}
}

// record stores the email caused by event eventID, unless consumer has
// already applied that event: the inbox row and the message commit
// together, so a redelivered event writes nothing.
func (s *Service) record(ctx context.Context, consumer, eventID string, to recipient, kind, subject, body string) error {
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("record %s %s: %w", kind, to.orderID, err)
	}
	m := Message{
		ID: id.String(), EventID: eventID, UserID: to.userID, OrderID: to.orderID, Kind: kind,
		To: to.email, Subject: subject, Body: body, CreatedAt: s.now().UTC().Truncate(time.Millisecond),
	}
	err = s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		first, err := tx.Inbox(ctx, consumer, eventID)
		if err != nil || !first {
			return err
		}
		return s.store.insert(ctx, tx, m)
	})
	if err != nil {
		return fmt.Errorf("record %s %s: %w", kind, to.orderID, err)
	}
	return nil
}

// List returns a page of the messages sent to userID, newest first, after
// the position cur (empty for the first page). limit must be 1 to MaxLimit.
// Errors: fault.Invalid for a bad limit or a cursor this method did not
// return.
func (s *Service) List(ctx context.Context, userID, cur string, limit int) (Page, error) {
	if err := checkLimit(limit, MaxLimit); err != nil {
		return Page{}, err
	}
	var after *cursor
	if cur != "" {
		c, err := parseCursor(cur)
		if err != nil {
			return Page{}, err
		}
		after = &c
	}
	items, err := s.store.list(ctx, userID, after, limit+1)
	if err != nil {
		return Page{}, fmt.Errorf("list notifications: %w", err)
	}
	page := Page{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		last := page.Items[limit-1]
		page.NextCursor = cursor{createdAt: last.CreatedAt.UnixMilli(), id: last.ID}.String()
	}
	return page, nil
}

// Audit returns a page of message counts per (order id, kind), in that
// order, after the position cur (empty for the first page). limit must be
// 1 to MaxAuditLimit. Errors: fault.Invalid for a bad limit or cursor.
func (s *Service) Audit(ctx context.Context, cur string, limit int) (AuditPage, error) {
	if err := checkLimit(limit, MaxAuditLimit); err != nil {
		return AuditPage{}, err
	}
	after, err := parseAuditCursor(cur)
	if err != nil {
		return AuditPage{}, err
	}
	items, err := s.store.audit(ctx, after, limit+1)
	if err != nil {
		return AuditPage{}, fmt.Errorf("audit notifications: %w", err)
	}
	page := AuditPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		last := page.Items[limit-1]
		page.NextCursor = auditCursor{orderID: last.OrderID, kind: last.Kind}.String()
	}
	return page, nil
}

func checkLimit(limit, max int) error {
	if limit < 1 || limit > max {
		return fault.Fields(fault.FieldError{Field: "limit", Message: fmt.Sprintf("must be 1 to %d", max)})
	}
	return nil
}
