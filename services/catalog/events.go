package catalog

import (
	"context"

	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/sqlstore"
)

// Event types the catalog publishes, on subjects catalog.product_created
// and catalog.product_updated. It consumes none.
const (
	EventProductCreated = "PRODUCT_CREATED"
	EventProductUpdated = "PRODUCT_UPDATED"
)

// ProductEvent is the data of PRODUCT_CREATED and PRODUCT_UPDATED: the
// product as of the change. Version orders the changes of one product, so a
// consumer keeps the highest it has seen and ignores the rest.
type ProductEvent struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	PriceCents  int64  `json:"price_cents"`
	Currency    string `json:"currency"`
	Version     int64  `json:"version"`
}

// publish adds the event of a change of p to the outbox, in tx.
func publish(ctx context.Context, tx *sqlstore.Tx, typ string, p Product) error {
	ev, err := events.New(typ, "catalog", p.ID, ProductEvent{
		ID: p.ID, Name: p.Name, Description: p.Description,
		PriceCents: p.PriceCents, Currency: p.Currency, Version: p.Version,
	})
	if err != nil {
		return err
	}
	return outbox.Add(ctx, tx, ev)
}
