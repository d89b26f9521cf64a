package order

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/faultinject"
	"github.com/souk/souk/services/payment"
)

// Saga drives orders through checkout (see the package doc for the states).
type Saga struct {
	store     *Store
	inventory Inventory
	payments  Payments
	now       func() time.Time
	lease     time.Duration
	log       *slog.Logger
	faults    *faultinject.Points
	notify    func() // wakes the outbox relay after an append
}

// Cancellation codes beyond the callees' own.
const (
	codeUnavailable = "unavailable"
	codeRecovered   = "interrupted"
)

// errStalled means the saga cannot take its next step now (a dependency is
// down); the order stays PENDING and recovery retries it.
var errStalled = errors.New("saga stalled")

// Run drives o forward until it is terminal or cannot progress now. card is
// the customer's card during checkout and nil during recovery: a recovered
// saga never charges.
func (s *Saga) Run(ctx context.Context, o Order, card *payment.Card) (Order, error) {
	for !o.Terminal() {
		next, err := s.step(ctx, o, card)
		if err != nil {
			return o, err
		}
		o = next
	}
	return o, nil
}

func (s *Saga) step(ctx context.Context, o Order, card *payment.Card) (Order, error) {
	switch o.Step {
	case StepCreated:
		return s.reserve(ctx, o, card)
	case StepReserved:
		if card == nil {
			return s.recoverCharge(ctx, o)
		}
		return s.charge(ctx, o, *card)
	case StepCharged:
		return s.commit(ctx, o, nil)
	case StepCompensating:
		return s.compensate(ctx, o)
	}
	if o.Status == StatusConfirmed && o.Step == StepDone {
		return o, nil
	}
	return o, fmt.Errorf("order %s: no step after %q", o.ID, o.Step)
}

func (s *Saga) reserve(ctx context.Context, o Order, card *payment.Card) (Order, error) {
	if card == nil {
		// Interrupted before its payment: a recovered saga cannot charge.
		// The reservation may or may not exist; releasing covers both.
		return s.turnBack(ctx, o, "the checkout was interrupted before payment", codeRecovered)
	}
	err := s.inventory.Reserve(ctx, o.ID, linesOf(o))
	s.hit("order.after_reserve_call")
	switch {
	case err == nil:
		return s.append(ctx, o, pending{EventStockReserved, StockReserved{OrderID: o.ID}})
	case fault.Is(err, fault.Conflict), fault.Is(err, fault.Invalid), fault.Is(err, fault.NotFound):
		// Refused outright: all-or-nothing, so nothing is held.
		return s.cancel(ctx, o, message(err), fault.CodeOf(err))
	default:
		// Unknown outcome: the reservation may exist. Turn back.
		s.log.WarnContext(ctx, "reserve failed", "order_id", o.ID, "err", err)
		return s.turnBack(ctx, o, "stock could not be reserved: inventory is unavailable", codeUnavailable)
	}
}

func (s *Saga) charge(ctx context.Context, o Order, card payment.Card) (Order, error) {
	p, err := s.payments.Charge(ctx, o.ID, o.TotalCents, o.Currency, card)
	s.hit("order.after_charge_call")
	switch {
	case err == nil:
		// Go straight on to the commit and record the capture with its
		// outcome, in one write instead of two: until then the order stays
		// "reserved" in the store, and recovery from there asks payment
		// whether the charge happened (recoverCharge), as it does after a
		// crash right after the charge call.
		return s.commit(ctx, o, &p)
	case fault.Is(err, fault.PaymentRequired), fault.Is(err, fault.Conflict), fault.Is(err, fault.Invalid):
		return s.turnBack(ctx, o, message(err), fault.CodeOf(err))
	default:
		// The charge may have happened; the void in compensation refunds
		// it or stops it from capturing later.
		s.log.WarnContext(ctx, "charge failed", "order_id", o.ID, "err", err)
		return s.turnBack(ctx, o, "the payment could not be taken: payment is unavailable", codeUnavailable)
	}
}

// recoverCharge finds out whether an interrupted charge happened.
func (s *Saga) recoverCharge(ctx context.Context, o Order) (Order, error) {
	p, captured, err := s.payments.Captured(ctx, o.ID)
	if err != nil {
		return o, fmt.Errorf("%w: payment status of %s: %v", errStalled, o.ID, err)
	}
	if captured {
		return s.append(ctx, o, pending{EventPaymentCaptured, PaymentCaptured{OrderID: o.ID, Payment: p}})
	}
	return s.turnBack(ctx, o, "the checkout was interrupted during payment", codeRecovered)
}

// commit commits the order's stock and confirms it. captured is the charge
// just taken when the store does not hold it yet (o is still "reserved"):
// it is recorded with the outcome.
func (s *Saga) commit(ctx context.Context, o Order, captured *Payment) (Order, error) {
	var first []pending
	tx := ""
	switch {
	case captured != nil:
		first = []pending{{EventPaymentCaptured, PaymentCaptured{OrderID: o.ID, Payment: *captured}}}
		tx = captured.TransactionID
	case o.Payment != nil:
		tx = o.Payment.TransactionID
	}
	err := s.inventory.Commit(ctx, o.ID)
	s.hit("order.after_commit_call")
	switch {
	case err == nil:
		return s.append(ctx, o, append(first, pending{EventPlaced, Placed{
			OrderID: o.ID, CustomerID: o.CustomerID, Email: o.Email, Name: o.Name, Items: o.Items,
			TotalCents: o.TotalCents, Currency: o.Currency, TransactionID: tx, PlacedAt: s.now().UTC(),
		}})...)
	case fault.Is(err, fault.Conflict), fault.Is(err, fault.NotFound):
		// The reservation expired before the payment completed.
		return s.turnBack(ctx, o, "the stock reservation expired before the payment completed", "reservation_expired", first...)
	default:
		// Paid for: keep going forward, later if not now.
		if captured != nil {
			if next, aerr := s.append(ctx, o, first...); aerr == nil {
				o = next
			}
		}
		return o, fmt.Errorf("%w: commit stock of %s: %v", errStalled, o.ID, err)
	}
}

// compensate undoes what the order holds: its stock, then its payment.
func (s *Saga) compensate(ctx context.Context, o Order) (Order, error) {
	if err := s.inventory.Release(ctx, o.ID); err != nil {
		return o, fmt.Errorf("%w: release stock of %s: %v", errStalled, o.ID, err)
	}
	s.hit("order.after_release_call")
	if err := s.payments.Void(ctx, o.ID); err != nil {
		return o, fmt.Errorf("%w: void payment of %s: %v", errStalled, o.ID, err)
	}
	s.hit("order.after_void_call")
	return s.cancel(ctx, o, o.Reason, o.Code)
}

// turnBack starts compensation, recording first (steps not yet in the
// store) in the same write.
func (s *Saga) turnBack(ctx context.Context, o Order, reason, code string, first ...pending) (Order, error) {
	return s.append(ctx, o, append(first, pending{EventCompensating, Compensating{OrderID: o.ID, Reason: reason, Code: code}})...)
}

func (s *Saga) cancel(ctx context.Context, o Order, reason, code string) (Order, error) {
	return s.append(ctx, o, pending{EventCancelled, Cancelled{
		OrderID: o.ID, CustomerID: o.CustomerID, Email: o.Email, Name: o.Name, Items: o.Items,
		TotalCents: o.TotalCents, Currency: o.Currency, Reason: reason, Code: code, At: s.now().UTC(),
	}})
}

// append records evs (one write) and moves o on past them.
func (s *Saga) append(ctx context.Context, o Order, evs ...pending) (Order, error) {
	now := s.now().UTC()
	next, err := s.store.Append(ctx, o, now.Add(s.lease), now, evs...)
	if err != nil {
		return o, fmt.Errorf("%w: record %s: %v", errStalled, typesOf(evs), err)
	}
	for _, p := range evs {
		if Published[p.typ] {
			s.notify()
			break
		}
	}
	for _, p := range evs {
		s.hit("order.after_" + p.typ)
	}
	return next, nil
}

func typesOf(evs []pending) string {
	names := make([]string, len(evs))
	for i, p := range evs {
		names[i] = p.typ
	}
	return strings.Join(names, "+")
}

func (s *Saga) hit(point string) {
	_ = s.faults.Hit(point)
}

func linesOf(o Order) []LineRequest {
	out := make([]LineRequest, len(o.Items))
	for i, it := range o.Items {
		out[i] = LineRequest{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	return out
}

// message is the user-safe text of err.
func message(err error) string {
	if e, ok := fault.As(err); ok && e.Message != "" {
		return e.Message
	}
	return "the order could not be completed"
}

func isNotFound(err error) bool { return fault.Is(err, fault.NotFound) }
