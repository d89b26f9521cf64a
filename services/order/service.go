package order

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/faultinject"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/workers"
	"github.com/souk/souk/services/payment"
)

// Options configures a Service.
type Options struct {
	DB        *sqlstore.DB
	Catalog   Catalog
	Inventory Inventory
	Payments  Payments
	Now       func() time.Time
	Log       *slog.Logger
	Faults    *faultinject.Points
	Notify    func() // wakes the outbox relay
	// CheckoutTimeout is how long a request waits for its saga before
	// answering 202 PENDING (default 3s).
	CheckoutTimeout time.Duration
	// Lease is how long a process may drive an order before another may
	// take over (default 10s).
	Lease time.Duration
	// SagaTimeout bounds one run of a saga, request or recovery (default 30s).
	SagaTimeout time.Duration
}

// Service holds the order use cases.
type Service struct {
	store   *Store
	saga    *Saga
	catalog Catalog
	opts    Options
	now     func() time.Time
	log     *slog.Logger
	running sync.WaitGroup // sagas detached from their requests
	sagas   *workers.Pool  // runs them
}

// NewService returns a Service.
func NewService(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Notify == nil {
		opts.Notify = func() {}
	}
	if opts.CheckoutTimeout <= 0 {
		opts.CheckoutTimeout = 3 * time.Second
	}
	if opts.Lease <= 0 {
		opts.Lease = 10 * time.Second
	}
	if opts.SagaTimeout <= 0 {
		opts.SagaTimeout = 30 * time.Second
	}
	store := NewStore(opts.DB)
	return &Service{
		store: store, catalog: opts.Catalog, opts: opts, now: opts.Now, log: opts.Log,
		sagas: workers.New(256, time.Minute),
		saga:  &Saga{store: store, inventory: opts.Inventory, payments: opts.Payments, now: opts.Now, lease: opts.Lease, log: opts.Log, faults: opts.Faults, notify: opts.Notify},
	}
}

// Place runs the checkout for the customer p. It returns the order when the
// saga finished or is still running (PENDING), or the error that ended it:
// fault.Invalid, fault.Conflict (out_of_stock), fault.PaymentRequired
// (payment_declined), fault.Unavailable (with RetryAfter), or
// fault.Unprocessable (idempotency_key_reused).
func (s *Service) Place(ctx context.Context, p *authn.Principal, req PlaceRequest, idemKey string) (Order, error) {
	now := s.now().UTC()
	if err := req.Validate(now); err != nil {
		return Order{}, err
	}
	fp := req.fingerprint()
	if idemKey != "" {
		if o, done, err := s.replay(ctx, p.Subject, idemKey, fp); done {
			return o, err
		}
	}
	created, err := s.price(ctx, p, req, now)
	if err != nil {
		return Order{}, err
	}
	o, existing, isNew, err := s.store.Create(ctx, created, p.Subject, idemKey, fp, now.Add(s.opts.Lease), now)
	if err != nil {
		return Order{}, fmt.Errorf("create order: %w", err)
	}
	if !isNew {
		// A concurrent request with the same key won the race.
		return s.answerExisting(ctx, existing, fp)
	}
	// ORDER_CREATED is recorded as published (Published): nothing for the
	// relay to do, so it is not woken (its query for unpublished rows was
	// a tenth of this service's CPU when woken at every step).
	_ = s.opts.Faults.Hit("order.after_ORDER_CREATED")
	card := req.Payment
	return s.drive(ctx, o, &card)
}

// price builds ORDER_CREATED from the catalog's current prices.
func (s *Service) price(ctx context.Context, p *authn.Principal, req PlaceRequest, now time.Time) (Created, error) {
	lines := req.lines()
	ids := make([]string, len(lines))
	for i, l := range lines {
		ids[i] = l.ProductID
	}
	products, err := s.catalog.Products(ctx, ids)
	if err != nil {
		return Created{}, fmt.Errorf("price order: %w", err)
	}
	c := Created{OrderID: uuid.Must(uuid.NewV7()).String(), CustomerID: p.Subject, Email: p.Email, Name: p.Name, CreatedAt: now}
	var unknown []fault.FieldError
	for i, l := range lines {
		prod, ok := products[l.ProductID]
		if !ok {
			unknown = append(unknown, fault.FieldError{Field: fmt.Sprintf("items[%d].product_id", i), Message: fmt.Sprintf("no product %q", l.ProductID)})
			continue
		}
		if c.Currency == "" {
			c.Currency = prod.Currency
		} else if c.Currency != prod.Currency {
			return Created{}, fault.New(fault.Invalid, "mixed_currencies", "every item of an order must have the same currency")
		}
		c.Items = append(c.Items, Item{ProductID: prod.ID, Name: prod.Name, Quantity: l.Quantity, PriceCents: prod.PriceCents})
		c.TotalCents += prod.PriceCents * l.Quantity
	}
	if len(unknown) > 0 {
		e := fault.Fields(unknown...)
		e.Code = "unknown_product"
		return Created{}, e
	}
	return c, nil
}

// drive runs the saga detached from the request, so a client that hangs up
// or a request deadline never cuts a step in half, and waits for it up to
// the checkout timeout. The saga runs on a pooled goroutine, whose stack
// has grown already (see platform/workers).
func (s *Service) drive(ctx context.Context, o Order, card *payment.Card) (Order, error) {
	type result struct {
		o   Order
		err error
	}
	done := make(chan result, 1)
	sagaCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.SagaTimeout)
	s.running.Add(1)
	s.sagas.Go(func() {
		defer s.running.Done()
		defer cancel()
		final, err := s.saga.Run(sagaCtx, o, card)
		if err != nil {
			s.log.WarnContext(sagaCtx, "saga paused; recovery will resume it", "order_id", o.ID, "step", final.Step, "err", err)
		}
		done <- result{final, err}
	})
	wait := time.NewTimer(s.opts.CheckoutTimeout)
	defer wait.Stop()
	select {
	case r := <-done:
		return answer(r.o)
	case <-wait.C:
		return Order{ID: o.ID, Status: StatusPending}, nil
	case <-ctx.Done():
		return Order{ID: o.ID, Status: StatusPending}, nil
	}
}

// answer turns the state a saga reached into the response of the request
// that started it.
func answer(o Order) (Order, error) {
	switch {
	case o.Status == StatusConfirmed || o.Status == StatusShipped:
		return o, nil
	case o.Status == StatusCancelled || o.Step == StepCompensating:
		return o, failure(o)
	}
	return Order{ID: o.ID, Status: StatusPending}, nil
}

// failure is the error a customer sees for a cancelled order.
func failure(o Order) error {
	e := &fault.Error{Code: o.Code, Message: o.Reason}
	switch o.Code {
	case "out_of_stock", "reservation_expired", "reservation_released", "order_voided", "amount_mismatch":
		e.Kind = fault.Conflict
	case "payment_declined":
		e.Kind = fault.PaymentRequired
	case "invalid", "unknown_product":
		e.Kind = fault.Invalid
	default:
		e.Kind, e.Code, e.RetryAfter = fault.Unavailable, codeUnavailable, 2*time.Second
	}
	return e
}

// replay answers a request whose Idempotency-Key was seen before; done is
// false when the key is new.
func (s *Service) replay(ctx context.Context, customer, key, fp string) (Order, bool, error) {
	rec, found, err := s.store.idempotency(ctx, s.store.db, customer, key)
	if err != nil {
		return Order{}, true, err
	}
	if !found {
		return Order{}, false, nil
	}
	o, err := s.answerExisting(ctx, rec, fp)
	return o, true, err
}

// answerExisting answers with the order an Idempotency-Key created, waiting
// up to the checkout timeout for it to finish if it is still running.
func (s *Service) answerExisting(ctx context.Context, rec idemRecord, fp string) (Order, error) {
	if rec.fingerprint != fp {
		return Order{}, fault.New(fault.Unprocessable, "idempotency_key_reused", "this Idempotency-Key was used with another request body")
	}
	deadline := time.Now().Add(s.opts.CheckoutTimeout)
	for {
		o, err := s.store.View(ctx, rec.orderID)
		if err != nil {
			return Order{}, err
		}
		if o.Terminal() || time.Now().After(deadline) {
			return answer(o)
		}
		select {
		case <-ctx.Done():
			return answer(o)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Get returns an order its owner (or an admin) may see; another customer's
// order is fault.NotFound, as if it did not exist.
func (s *Service) Get(ctx context.Context, p *authn.Principal, id string) (Order, error) {
	if len(id) > maxIDLen {
		return Order{}, fault.NotFoundf("no order with an id that long")
	}
	o, err := s.store.View(ctx, id)
	if err != nil {
		return Order{}, err
	}
	if o.CustomerID != p.Subject && !p.IsAdmin() {
		return Order{}, fault.NotFoundf("no order %s", id)
	}
	return o, nil
}

// History returns an order's events, oldest first, under Get's rules.
func (s *Service) History(ctx context.Context, p *authn.Principal, id string) ([]Event, error) {
	if _, err := s.Get(ctx, p, id); err != nil {
		return nil, err
	}
	return s.store.Events(ctx, id)
}

// List returns a page of the customer's orders, newest first; an admin may
// list everyone's with all set.
func (s *Service) List(ctx context.Context, p *authn.Principal, all bool, cur string, limit int) (Page, error) {
	c, err := parseCursor(cur)
	if err != nil {
		return Page{}, err
	}
	customer := p.Subject
	if all {
		if !p.IsAdmin() {
			return Page{}, fault.New(fault.Forbidden, "forbidden", "admin only")
		}
		customer = ""
	}
	return s.store.List(ctx, customer, c, limit)
}

// Audit pages through every order by id.
func (s *Service) Audit(ctx context.Context, after string, limit int) ([]AuditRow, error) {
	return s.store.Audit(ctx, after, limit)
}

// Recover resumes every stalled order once: those still PENDING whose lease
// ran out (their process died or gave up). It returns how many it drove to
// a terminal state.
func (s *Service) Recover(ctx context.Context) (int, error) {
	now := s.now().UTC()
	ids, err := s.store.Stalled(ctx, now, 64)
	if err != nil {
		return 0, err
	}
	var (
		mu       sync.Mutex
		finished int
		wg       sync.WaitGroup
		sem      = make(chan struct{}, 8)
	)
	for _, id := range ids {
		ok, err := s.store.Claim(ctx, id, now, now.Add(s.opts.Lease))
		if err != nil || !ok {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(ctx, s.opts.SagaTimeout)
			defer cancel()
			o, err := s.store.Load(rctx, id)
			if err != nil {
				s.log.WarnContext(rctx, "recover: load", "order_id", id, "err", err)
				return
			}
			from := o.Step
			o, err = s.saga.Run(rctx, o, nil)
			if err != nil {
				s.log.InfoContext(rctx, "recover: still stalled", "order_id", id, "step", o.Step, "err", err)
				return
			}
			s.log.InfoContext(rctx, "recovered order", "order_id", id, "from", from, "status", o.Status)
			mu.Lock()
			finished++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return finished, nil
}

// RecoverLoop runs Recover at start and then every interval until ctx ends.
func (s *Service) RecoverLoop(interval time.Duration) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if _, err := s.Recover(ctx); err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "recover", "err", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}
}

// Wait waits for sagas still running detached from their requests.
func (s *Service) Wait() { s.running.Wait() }

// ShippedEvent is the part of warehouse's ORDER_SHIPPED the order reads.
type ShippedEvent struct {
	OrderID   string    `json:"order_id"`
	TaskID    string    `json:"task_id"`
	ShippedAt time.Time `json:"shipped_at"`
}

// HandleShipped records that a confirmed order shipped, once per event.
func (s *Service) HandleShipped(ctx context.Context, ev events.Event) error {
	var d ShippedEvent
	if err := json.Unmarshal(ev.Data, &d); err != nil || d.OrderID == "" {
		return events.Permanent(fmt.Errorf("ORDER_SHIPPED %s: bad data: %v", ev.ID, err))
	}
	defer s.opts.Notify()
	return s.store.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		first, err := tx.Inbox(ctx, "order-shipped", ev.ID)
		if err != nil || !first {
			return err
		}
		evs, err := s.store.events(ctx, tx, d.OrderID)
		if err != nil {
			return err
		}
		o, err := Fold(evs)
		if err != nil {
			return err
		}
		if o.Status != StatusConfirmed {
			// Shipped twice, or an order this store does not know: nothing to do.
			s.log.WarnContext(ctx, "ORDER_SHIPPED for an order not confirmed", "order_id", d.OrderID, "status", o.Status)
			return nil
		}
		now := s.now().UTC()
		_, err = s.store.append(ctx, tx, o, now, now, pending{EventShipped, Shipped(d)})
		if errors.Is(err, errVersionConflict) {
			return fmt.Errorf("record shipment of %s: %w", d.OrderID, err)
		}
		return err
	})
}
