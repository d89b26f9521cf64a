package payment

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

// Event types the payment service publishes.
const (
	EventCaptured = "PAYMENT_CAPTURED"
	EventRefunded = "PAYMENT_REFUNDED"
)

// MoneyEvent is the data of PAYMENT_CAPTURED and PAYMENT_REFUNDED.
type MoneyEvent struct {
	OrderID       string `json:"order_id"`
	TransactionID string `json:"transaction_id"`
	AmountCents   int64  `json:"amount_cents"`
	Currency      string `json:"currency"`
}

// Service holds the payment use cases.
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

// Charge captures req's amount once per order. Repeating a charge returns
// the first outcome: the same capture, or the same decline. Errors:
// fault.Invalid for a bad request, fault.PaymentRequired
// (payment_declined) for a declined card, fault.Conflict (order_voided)
// when the order was voided first, fault.Conflict (amount_mismatch) when
// the order was charged another amount.
func (s *Service) Charge(ctx context.Context, req ChargeRequest) (Charge, error) {
	now := s.now().UTC()
	if err := req.Validate(now); err != nil {
		return Charge{}, err
	}
	var out Charge
	captured := false
	err := s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		captured = false
		c, found, err := s.store.charge(ctx, tx, req.OrderID)
		if err != nil {
			return err
		}
		if found {
			out = c
			return nil
		}
		ok, reason := authorize(req.Card)
		c = Charge{
			OrderID: req.OrderID, TransactionID: "txn_" + uuid.Must(uuid.NewV7()).String(),
			AmountCents: req.AmountCents, Currency: req.Currency,
			Last4: req.Card.Last4(), Brand: req.Card.Brand(),
			CreatedAt: now, UpdatedAt: now,
		}
		if ok {
			c.Status = StatusCaptured
		} else {
			c.Status, c.DeclineReason = StatusDeclined, reason
		}
		inserted, err := s.store.insertCharge(ctx, tx, c)
		if err != nil {
			return err
		}
		if !inserted {
			// A concurrent charge of this order committed first: answer
			// with its outcome.
			out, _, err = s.store.charge(ctx, tx, req.OrderID)
			return err
		}
		if !ok {
			out = c
			return nil
		}
		if err := s.store.addLedger(ctx, tx, c, "capture", now); err != nil {
			return err
		}
		if err := s.publish(ctx, tx, EventCaptured, c); err != nil {
			return err
		}
		out, captured = c, true
		return nil
	})
	if err != nil {
		return Charge{}, fmt.Errorf("charge %s: %w", req.OrderID, err)
	}
	if captured {
		s.notify()
	}
	return out, outcome(out, req)
}

// outcome turns a stored charge into the answer to req.
func outcome(c Charge, req ChargeRequest) error {
	switch c.Status {
	case StatusDeclined:
		return declined(c.DeclineReason)
	case StatusVoided, StatusRefunded:
		return fault.New(fault.Conflict, "order_voided", "the order's payment was voided")
	}
	if c.AmountCents != req.AmountCents || c.Currency != req.Currency {
		return fault.New(fault.Conflict, "amount_mismatch", "the order was charged a different amount")
	}
	return nil
}

// Void makes sure orderID holds no money: a captured charge is refunded in
// full; an order never charged is marked voided so a late charge fails. It
// is idempotent and returns the resulting charge state.
func (s *Service) Void(ctx context.Context, orderID string) (Charge, error) {
	if orderID == "" || len(orderID) > 64 {
		return Charge{}, fault.Invalidf("order_id must be 1 to 64 characters")
	}
	now := s.now().UTC()
	var out Charge
	refunded := false
	err := s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		refunded = false
		c, found, err := s.store.charge(ctx, tx, orderID)
		if err != nil {
			return err
		}
		if !found {
			c = Charge{OrderID: orderID, TransactionID: "void_" + uuid.Must(uuid.NewV7()).String(), Status: StatusVoided, CreatedAt: now, UpdatedAt: now}
			inserted, err := s.store.insertCharge(ctx, tx, c)
			if err != nil {
				return err
			}
			if inserted {
				out = c
				return nil
			}
			// A charge landed meanwhile: void it below.
			if c, _, err = s.store.charge(ctx, tx, orderID); err != nil {
				return err
			}
		}
		if c.Status != StatusCaptured {
			out = c
			return nil
		}
		if err := s.store.setStatus(ctx, tx, orderID, StatusRefunded, now); err != nil {
			return err
		}
		if err := s.store.addLedger(ctx, tx, c, "refund", now); err != nil {
			return err
		}
		if err := s.publish(ctx, tx, EventRefunded, c); err != nil {
			return err
		}
		c.Status, c.UpdatedAt = StatusRefunded, now
		out, refunded = c, true
		return nil
	})
	if err != nil {
		return Charge{}, fmt.Errorf("void %s: %w", orderID, err)
	}
	if refunded {
		s.notify()
	}
	return out, nil
}

// Get returns the charge of orderID: fault.NotFound when there is none.
func (s *Service) Get(ctx context.Context, orderID string) (Charge, error) {
	c, found, err := s.store.Get(ctx, orderID)
	if err != nil {
		return Charge{}, err
	}
	if !found {
		return Charge{}, fault.NotFoundf("no payment for order %s", orderID)
	}
	return c, nil
}

// Audit pages through every order's money, by order id: up to limit orders
// after the cursor.
func (s *Service) Audit(ctx context.Context, after string, limit int) ([]Audit, error) {
	return s.store.Audit(ctx, after, limit)
}

func (s *Service) publish(ctx context.Context, tx *sqlstore.Tx, typ string, c Charge) error {
	ev, err := events.New(typ, "payment", c.OrderID, MoneyEvent{OrderID: c.OrderID, TransactionID: c.TransactionID, AmountCents: c.AmountCents, Currency: c.Currency})
	if err != nil {
		return err
	}
	return outbox.Add(ctx, tx, ev)
}
