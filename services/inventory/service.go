package inventory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
	"github.com/souk/souk/platform/sqlstore"
)

// Service holds the inventory use cases. It is safe for concurrent use, and
// any number of Services (in one process or many) may share one database.
type Service struct {
	db    *sqlstore.DB
	store *Store
	now   func() time.Time
	ttl   time.Duration // how long a reservation holds stock uncommitted
}

// NewService returns a Service whose reservations expire ttl after they are
// made.
func NewService(db *sqlstore.DB, now func() time.Time, ttl time.Duration) *Service {
	return &Service{db: db, store: NewStore(db), now: now, ttl: ttl}
}

// clock is the current time at the database's precision (milliseconds), so
// that what a call returns equals what a later read returns.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// Seed gives each product of stock its initial units unless it already has
// a stock row. It is idempotent, and safe to run from several instances at
// once. Errors: fault.Invalid for a bad id or quantity.
func (s *Service) Seed(ctx context.Context, stock []InitialStock) error {
	for _, it := range stock {
		if !ValidID(it.ProductID) || it.Quantity < 0 || it.Quantity > MaxAvailable {
			return fault.Invalidf("seed: bad initial stock %q: %d", it.ProductID, it.Quantity)
		}
	}
	// Sorted, so instances seeding at once on PostgreSQL take row locks in
	// one order.
	sorted := slices.SortedFunc(slices.Values(stock), func(a, b InitialStock) int {
		return strings.Compare(a.ProductID, b.ProductID)
	})
	now := s.clock()
	if err := s.db.Tx(ctx, func(tx *sqlstore.Tx) error { return s.store.seed(ctx, tx, sorted, now) }); err != nil {
		return fmt.Errorf("seed stock: %w", err)
	}
	return nil
}

// Reserve holds req's items for req.OrderID, all or nothing, until the
// reservation is committed, released or expires. created is true when this
// call made the reservation; a repeated call returns the reservation as it
// now is (committed, say) and reserves nothing, whatever items it names.
// Errors: fault.Invalid for a bad request; fault.Conflict with code
// out_of_stock (naming the first product short, or unknown) or
// reservation_released (the order was released first, or its reservation
// expired).
func (s *Service) Reserve(ctx context.Context, req ReserveRequest) (r Reservation, created bool, err error) {
	if err := req.Validate(); err != nil {
		return Reservation{}, false, err
	}
	now := s.clock()
	fresh := Reservation{
		OrderID: req.OrderID, Status: StatusReserved, Items: merged(req.Items),
		ExpiresAt: now.Add(s.ttl), CreatedAt: now, UpdatedAt: now,
	}
	err = s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		created = false
		// The row goes in first: on PostgreSQL a concurrent reserve of the
		// same order waits here for this one and then finds its result.
		inserted, err := s.store.insertReservation(ctx, tx, fresh)
		if err != nil {
			return err
		}
		if !inserted {
			existing, found, err := s.store.reservation(ctx, tx, req.OrderID)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("reservation %s vanished", req.OrderID) // rows are never deleted
			}
			r = existing
			return nil
		}
		for _, it := range fresh.Items {
			ok, err := s.store.take(ctx, tx, it, now)
			if err != nil {
				return err
			}
			if !ok {
				known, err := s.store.stocked(ctx, tx, it.ProductID)
				if err != nil {
					return err
				}
				return outOfStock(it.ProductID, it.Quantity, known) // rolls back every take
			}
		}
		if err := s.store.insertItems(ctx, tx, req.OrderID, fresh.Items); err != nil {
			return err
		}
		r, created = fresh, true
		return nil
	})
	if err != nil {
		return Reservation{}, false, fmt.Errorf("reserve %s: %w", req.OrderID, err)
	}
	if r.Status == StatusReleased {
		return Reservation{}, false, reservationReleased(req.OrderID)
	}
	return r, created, nil
}

// Commit turns orderID's reserved units into sold ones. Committing again
// returns the committed reservation. Errors: fault.Invalid for a bad id,
// fault.NotFound when the order has no reservation, fault.Conflict
// (reservation_expired) when it was released or expired.
func (s *Service) Commit(ctx context.Context, orderID string) (Reservation, error) {
	if err := checkID("order_id", orderID); err != nil {
		return Reservation{}, err
	}
	now := s.clock()
	var out Reservation
	err := s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		moved, err := s.store.leave(ctx, tx, orderID, StatusCommitted, "", now, nil)
		if err != nil {
			return err
		}
		if moved {
			return s.settle(ctx, tx, orderID, toSold, now, &out)
		}
		r, found, err := s.store.reservation(ctx, tx, orderID)
		switch {
		case err != nil:
			return err
		case !found:
			return noReservation(orderID)
		case r.Status == StatusReleased:
			return reservationExpired(r)
		case r.Status != StatusCommitted:
			return fmt.Errorf("reservation %s is %s but did not move", orderID, r.Status)
		}
		out = r
		return nil
	})
	if err != nil {
		return Reservation{}, fmt.Errorf("commit %s: %w", orderID, err)
	}
	return out, nil
}

// Release gives orderID's reserved units back to available. Releasing an
// order with no reservation records a tombstone, so that a reserve for it
// arriving later is refused; releasing again returns the released
// reservation. Errors: fault.Invalid for a bad id, fault.Conflict
// (already_committed) when the reservation was committed.
func (s *Service) Release(ctx context.Context, orderID string) (Reservation, error) {
	if err := checkID("order_id", orderID); err != nil {
		return Reservation{}, err
	}
	now := s.clock()
	var out Reservation
	err := s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		var err error
		out, err = s.release(ctx, tx, orderID, ReasonReleased, now)
		return err
	})
	if err != nil {
		return Reservation{}, fmt.Errorf("release %s: %w", orderID, err)
	}
	return out, nil
}

// releaseAttempts bounds release's loop; each turn but the last is caused
// by a concurrent reserve of the same order committing, which can happen
// once.
const releaseAttempts = 3

// release is Release inside tx, for reason.
func (s *Service) release(ctx context.Context, tx *sqlstore.Tx, orderID, reason string, now time.Time) (Reservation, error) {
	for range releaseAttempts {
		moved, err := s.store.leave(ctx, tx, orderID, StatusReleased, reason, now, nil)
		if err != nil {
			return Reservation{}, err
		}
		if moved {
			var out Reservation
			err := s.settle(ctx, tx, orderID, toAvailable, now, &out)
			return out, err
		}
		r, found, err := s.store.reservation(ctx, tx, orderID)
		if err != nil {
			return Reservation{}, err
		}
		if found {
			switch r.Status {
			case StatusCommitted:
				return Reservation{}, alreadyCommitted(orderID)
			case StatusReleased:
				return r, nil
			}
			// Reserved, committed by a concurrent reserve after leave
			// looked (PostgreSQL, READ COMMITTED): look again.
			continue
		}
		tomb := Reservation{OrderID: orderID, Status: StatusReleased, Reason: reason, Items: []Item{}, ExpiresAt: now, CreatedAt: now, UpdatedAt: now}
		inserted, err := s.store.insertReservation(ctx, tx, tomb)
		if err != nil {
			return Reservation{}, err
		}
		if inserted {
			return tomb, nil
		}
		// A concurrent reserve inserted the order first and has committed
		// (the insert waited for it): release what it reserved.
	}
	return Reservation{}, fmt.Errorf("reservation %s kept changing under release", orderID)
}

// settle moves the units of orderID's reservation, which this transaction
// has just moved out of reserved, with the statement to, and reads the
// reservation into out.
func (s *Service) settle(ctx context.Context, tx *sqlstore.Tx, orderID, to string, now time.Time, out *Reservation) error {
	r, found, err := s.store.reservation(ctx, tx, orderID)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("reservation %s vanished", orderID)
	}
	if err := s.store.settle(ctx, tx, to, r.Items, now); err != nil {
		return err
	}
	*out = r
	return nil
}

// ExpireDue releases (reason expired) up to limit reservations whose TTL
// has passed, in one transaction, and returns how many it released. Call
// it until it returns fewer than limit. Instances may run it at once: each
// reservation is released by exactly one of them.
func (s *Service) ExpireDue(ctx context.Context, limit int) (int, error) {
	now := s.clock()
	released := 0
	err := s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		released = 0
		ids, err := s.store.due(ctx, tx, now, limit)
		if err != nil {
			return err
		}
		var units []Item
		for _, id := range ids {
			moved, err := s.store.leave(ctx, tx, id, StatusReleased, ReasonExpired, now, &now)
			if err != nil {
				return err
			}
			if !moved {
				continue // another instance, or a commit, got there first
			}
			items, err := s.store.items(ctx, tx, id)
			if err != nil {
				return err
			}
			units = append(units, items...)
			released++
		}
		// Summed per product and sorted, so that the batch locks stock rows
		// in the same order as every other transaction.
		return s.store.settle(ctx, tx, toAvailable, merged(units), now)
	})
	if err != nil {
		return 0, fmt.Errorf("expire reservations: %w", err)
	}
	return released, nil
}

// Level returns productID's available units. Errors: fault.Invalid for a
// bad id, fault.NotFound for an unknown product.
func (s *Service) Level(ctx context.Context, productID string) (Level, error) {
	if err := checkID("product_id", productID); err != nil {
		return Level{}, err
	}
	l, found, err := s.store.level(ctx, productID)
	if err != nil {
		return Level{}, err
	}
	if !found {
		return Level{}, fault.NotFoundf("no stock for product %s", productID)
	}
	return l, nil
}

// Levels returns the available units of the known products among ids;
// unknown ones are left out. Errors: fault.Invalid for no ids, more than
// MaxBatchIDs, or a bad id.
func (s *Service) Levels(ctx context.Context, ids []string) (Levels, error) {
	if len(ids) == 0 || len(ids) > MaxBatchIDs {
		return Levels{}, fault.Fields(fault.FieldError{Field: "ids", Message: fmt.Sprintf("must list 1 to %d product ids", MaxBatchIDs)})
	}
	for _, id := range ids {
		if err := checkID("ids", id); err != nil {
			return Levels{}, err
		}
	}
	items, err := s.store.levels(ctx, slices.Compact(slices.Sorted(slices.Values(ids))))
	if err != nil {
		return Levels{}, err
	}
	return Levels{Items: items}, nil
}

// SetAvailable sets productID's available units, as an admin counting the
// shelf would; the difference is booked as restocked, and a product the
// inventory did not know gets a row. Errors: fault.Invalid for a bad id or
// count.
func (s *Service) SetAvailable(ctx context.Context, productID string, req SetStockRequest) (StockView, error) {
	if err := checkID("product_id", productID); err != nil {
		return StockView{}, err
	}
	if err := req.Validate(); err != nil {
		return StockView{}, err
	}
	now := s.clock()
	var out StockView
	err := s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		var err error
		out, err = s.store.setAvailable(ctx, tx, productID, *req.Available, now)
		return err
	})
	if err != nil {
		return StockView{}, fmt.Errorf("set stock of %s: %w", productID, err)
	}
	return out, nil
}

// AuditStock pages through every product's stock by product id, after
// cursor (a product id; "" for the first page). limit 0 means
// DefaultAuditLimit. Errors: fault.Invalid for a bad cursor or limit.
func (s *Service) AuditStock(ctx context.Context, cursor string, limit int) (Page[Stock], error) {
	limit, err := auditArgs(cursor, limit)
	if err != nil {
		return Page[Stock]{}, err
	}
	rows, err := s.store.auditStock(ctx, cursor, limit+1)
	if err != nil {
		return Page[Stock]{}, err
	}
	return page(rows, limit, func(s Stock) string { return s.ProductID }), nil
}

// AuditReservations pages through every order's reservation by order id,
// like AuditStock.
func (s *Service) AuditReservations(ctx context.Context, cursor string, limit int) (Page[ReservationAudit], error) {
	limit, err := auditArgs(cursor, limit)
	if err != nil {
		return Page[ReservationAudit]{}, err
	}
	rows, err := s.store.auditReservations(ctx, cursor, limit+1)
	if err != nil {
		return Page[ReservationAudit]{}, err
	}
	return page(rows, limit, func(r ReservationAudit) string { return r.OrderID }), nil
}

func auditArgs(cursor string, limit int) (int, error) {
	if limit == 0 {
		limit = DefaultAuditLimit
	}
	var v httpapi.Validator
	v.Check(cursor == "" || ValidID(cursor), "cursor", "must be a next_cursor of this audit")
	v.Check(limit >= 1 && limit <= MaxAuditLimit, "limit", fmt.Sprintf("must be 1 to %d", MaxAuditLimit))
	return limit, v.Err()
}

// page cuts rows (read with one extra) to limit and sets the cursor when
// more follow.
func page[T any](rows []T, limit int, key func(T) string) Page[T] {
	if len(rows) <= limit {
		return Page[T]{Items: rows}
	}
	rows = rows[:limit]
	return Page[T]{Items: rows, NextCursor: key(rows[len(rows)-1])}
}
