package notification

import (
	"context"
	"fmt"
	"time"

	"github.com/souk/souk/platform/sqlstore"
)

// SeedConfirmation writes in tx the confirmation email of a placed order,
// with the subject and body HandleOrderPlaced writes, for a bulk seed
// (`souk seed`, tools/seed). id is the message id (a UUIDv7) and eventID
// the ORDER_PLACED event's id. It writes no inbox row: the event was
// consumed long ago and its row pruned; the UNIQUE event id still keeps a
// second email for it out. A recipient without an order id, customer id or
// email is an error.
func (s *Service) SeedConfirmation(ctx context.Context, tx *sqlstore.Tx, id, eventID string, p OrderPlaced, at time.Time) error {
	to := p.recipient()
	if err := to.validate(); err != nil {
		return fmt.Errorf("seed confirmation %s: %w", p.OrderID, err)
	}
	subject, body := confirmation(p)
	return s.store.insert(ctx, tx, Message{
		ID: id, EventID: eventID, UserID: to.userID, OrderID: to.orderID, Kind: KindConfirmation,
		To: to.email, Subject: subject, Body: body, CreatedAt: at.UTC().Truncate(time.Millisecond),
	})
}
