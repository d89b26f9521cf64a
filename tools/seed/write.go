package seed

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/sampledata"
	"github.com/souk/souk/services/auth"
	"github.com/souk/souk/services/inventory"
	"github.com/souk/souk/services/notification"
	"github.com/souk/souk/services/order"
	"github.com/souk/souk/services/payment"
	"github.com/souk/souk/services/user"
	"github.com/souk/souk/services/warehouse"
)

// writers hold each service's store; each method writes a batch in the
// caller's transaction and returns how many rows it wrote.
type writers struct {
	auth         *auth.Store
	user         *user.Store
	order        *order.Store
	payment      *payment.Store
	inventory    *inventory.Store
	notification *notification.Service
	warehouse    *warehouse.Store
	hash         string // the users' shared password hash
}

func (w *writers) writeUsers(ctx context.Context, tx *sqlstore.Tx, svc string, us []seedUser) (int, error) {
	for _, u := range us {
		var err error
		switch svc {
		case "auth":
			err = w.auth.SeedUser(ctx, tx, auth.User{ID: u.id, Email: u.email, Name: u.name, Role: authn.RoleCustomer, CreatedAt: u.createdAt}, w.hash)
		case "user":
			err = w.user.SeedProfile(ctx, tx, user.Profile{ID: u.id, Email: u.email, Name: u.name, Role: authn.RoleCustomer, CreatedAt: u.createdAt, UpdatedAt: u.createdAt})
		default:
			err = fmt.Errorf("no users in %s", svc)
		}
		if err != nil {
			return 0, err
		}
	}
	return len(us), nil
}

func (w *writers) writeOrders(ctx context.Context, tx *sqlstore.Tx, svc string, batch []orderRec) (int, error) {
	switch svc {
	case "order":
		return w.writeOrderStore(ctx, tx, batch)
	case "payment":
		for _, o := range batch {
			if err := w.payment.SeedCaptured(ctx, tx, o.charge()); err != nil {
				return 0, err
			}
		}
		return 2 * len(batch), nil // the charge and its ledger capture
	case "inventory":
		return w.writeInventory(ctx, tx, batch)
	case "notification":
		for _, o := range batch {
			if err := w.notification.SeedConfirmation(ctx, tx, o.messageID, o.placed.EventIDs[3], placedEvent(o), o.notifiedAt); err != nil {
				return 0, err
			}
		}
		return len(batch), nil
	case "warehouse":
		for _, o := range batch {
			if err := w.warehouse.SeedTask(ctx, tx, task(o)); err != nil {
				return 0, err
			}
		}
		return len(batch), nil
	}
	return 0, fmt.Errorf("no orders in %s", svc)
}

func (w *writers) writeOrderStore(ctx context.Context, tx *sqlstore.Tx, batch []orderRec) (int, error) {
	rows := 0
	for _, o := range batch {
		if _, err := w.order.SeedPlaced(ctx, tx, o.placed); err != nil {
			return 0, err
		}
		rows += 5 // four events and the read-model row
		if o.placed.IdempotencyKey != "" {
			rows++
		}
	}
	return rows, nil
}

// writeInventory writes the batch's committed reservations and books their
// units as sold in the same transaction, so the stock invariant holds after
// every batch.
func (w *writers) writeInventory(ctx context.Context, tx *sqlstore.Tx, batch []orderRec) (int, error) {
	rows := 0
	sold := map[string]int64{}
	var last time.Time
	for _, o := range batch {
		r := o.reservation()
		if err := w.inventory.SeedCommitted(ctx, tx, r); err != nil {
			return 0, err
		}
		rows += 1 + len(r.Items)
		for _, it := range r.Items {
			sold[it.ProductID] += it.Quantity
		}
		last = o.placed.PlacedAt
	}
	ids := make([]string, 0, len(sold))
	for id := range sold {
		ids = append(ids, id)
	}
	sort.Strings(ids) // rows locked in product order, as the service does
	for _, id := range ids {
		if err := w.inventory.SeedSold(ctx, tx, id, initialStock(id), sold[id], last); err != nil {
			return 0, err
		}
		rows++
	}
	return rows, nil
}

// initialStock is the sample stock of a product, what inventory seeds on
// start.
func initialStock(productID string) int64 {
	for _, p := range sampledata.Products {
		if p.ID == productID {
			return p.InitialStock
		}
	}
	return 0
}

// placedEvent is ORDER_PLACED as the notification service reads it.
func placedEvent(o orderRec) notification.OrderPlaced {
	c := o.placed.Created
	p := notification.OrderPlaced{
		OrderID: c.OrderID, CustomerID: c.CustomerID, Email: c.Email, Name: c.Name,
		TotalCents: c.TotalCents, Currency: c.Currency, TransactionID: o.placed.Payment.TransactionID,
	}
	for _, it := range c.Items {
		p.Items = append(p.Items, notification.Item{ProductID: it.ProductID, Name: it.Name, Quantity: int(it.Quantity), PriceCents: it.PriceCents})
	}
	return p
}

// task is the warehouse task of o.
func task(o orderRec) warehouse.Task {
	c := o.placed.Created
	t := warehouse.Task{
		ID: o.taskID, OrderID: c.OrderID, CustomerID: c.CustomerID, Email: c.Email,
		Status: warehouse.StatusPending, CreatedAt: o.notifiedAt,
	}
	for _, it := range c.Items {
		t.Items = append(t.Items, warehouse.Item{ProductID: it.ProductID, Name: it.Name, Quantity: int(it.Quantity)})
	}
	return t
}
