package warehouse

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/sqlstore"
)

// Service holds the warehouse use cases.
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

// createTask makes the task of the placed order p, unless this event was
// applied already or the order has a task (from another event about the
// same order): both leave the existing state alone.
func (s *Service) createTask(ctx context.Context, eventID string, p OrderPlaced) error {
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("create task %s: %w", p.OrderID, err)
	}
	t := Task{
		ID: id.String(), OrderID: p.OrderID, CustomerID: p.CustomerID, Email: p.Email,
		Items: p.Items, Status: StatusPending, CreatedAt: s.now().UTC().Truncate(time.Millisecond),
	}
	err = s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		first, err := tx.Inbox(ctx, ConsumerOrderPlaced, eventID)
		if err != nil || !first {
			return err
		}
		return s.store.insert(ctx, tx, t)
	})
	if err != nil {
		return fmt.Errorf("create task %s: %w", p.OrderID, err)
	}
	return nil
}

// Ship marks task id shipped and emits ORDER_SHIPPED in the same
// transaction. Errors: fault.Invalid for a malformed id, fault.NotFound for
// an unknown task, fault.Conflict (already_shipped) when it has shipped.
func (s *Service) Ship(ctx context.Context, id string) (Task, error) {
	if id == "" || len(id) > maxID {
		return Task{}, fault.Invalidf("a task id is 1 to 64 characters")
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	var out Task
	err := s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		t, found, err := s.store.task(ctx, tx, id)
		if err != nil {
			return err
		}
		if !found {
			return fault.NotFoundf("no task %s", id)
		}
		// The conditional update, not the read above, decides a race
		// between two ships: the loser updates no row.
		shipped, err := s.store.markShipped(ctx, tx, id, now)
		if err != nil {
			return err
		}
		if !shipped {
			return errAlreadyShipped
		}
		t.Status, t.ShippedAt = StatusShipped, &now
		ev, err := events.New(EventShipped, "warehouse", t.OrderID, Shipped{
			OrderID: t.OrderID, TaskID: t.ID, CustomerID: t.CustomerID, Email: t.Email, ShippedAt: now,
		})
		if err != nil {
			return err
		}
		out = t
		return outbox.Add(ctx, tx, ev)
	})
	if err != nil {
		return Task{}, fmt.Errorf("ship %s: %w", id, err)
	}
	s.notify()
	return out, nil
}

// List returns a page of the tasks q selects. Errors: fault.Invalid for a
// bad query.
func (s *Service) List(ctx context.Context, q ListQuery) (Page, error) {
	if err := q.Validate(); err != nil {
		return Page{}, err
	}
	want := q.Limit
	q.Limit++ // one more tells whether another page follows
	items, err := s.store.list(ctx, q)
	if err != nil {
		return Page{}, fmt.Errorf("list tasks: %w", err)
	}
	page := Page{Items: items}
	if len(items) > want {
		page.Items = items[:want]
		page.NextCursor = page.Items[want-1].ID
	}
	return page, nil
}

// Audit returns a page of the tasks per order, by order id, after the
// order id cursor (empty for the first page). limit must be 1 to
// MaxAuditLimit. Errors: fault.Invalid for a bad limit or cursor.
func (s *Service) Audit(ctx context.Context, cursor string, limit int) (AuditPage, error) {
	if err := checkAuditQuery(cursor, limit); err != nil {
		return AuditPage{}, err
	}
	items, err := s.store.audit(ctx, cursor, limit+1)
	if err != nil {
		return AuditPage{}, fmt.Errorf("audit tasks: %w", err)
	}
	page := AuditPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.NextCursor = page.Items[limit-1].OrderID
	}
	return page, nil
}
