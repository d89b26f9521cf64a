package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/platform/events"
)

// Event types of the catalog that the index follows.
const (
	EventProductCreated = "PRODUCT_CREATED"
	EventProductUpdated = "PRODUCT_UPDATED"
)

// ConsumerConfig is the durable consumer of instance: its own, so that
// every instance sees every catalog event (see the package doc).
func ConsumerConfig(instance string) events.ConsumerConfig {
	return events.ConsumerConfig{
		Durable: "search-products-" + safeName(instance),
		Stream:  "catalog",
		Subject: "catalog.>",
	}
}

// safeName maps an instance name to one usable in a consumer name and as a
// folder name: letters, digits, '-' and '_' only.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// HandleCatalogEvent indexes the product of a PRODUCT_CREATED or
// PRODUCT_UPDATED event and ignores every other catalog event. An event
// that is not older than the indexed product's version changes nothing, so
// redelivery is harmless. Data that is not a product is a permanent error.
func (s *Service) HandleCatalogEvent(ctx context.Context, ev events.Event) error {
	if ev.Type != EventProductCreated && ev.Type != EventProductUpdated {
		return nil
	}
	var p Product
	if err := json.Unmarshal(ev.Data, &p); err != nil {
		return events.Permanent(fmt.Errorf("%s %s: %w", ev.Type, ev.ID, err))
	}
	if p.ID == "" || p.Version < 1 {
		return events.Permanent(fmt.Errorf("%s %s: no product id or version", ev.Type, ev.ID))
	}
	_, err := s.idx.Upsert(p)
	return err
}

// consumerDeleter is the part of jetstream.JetStream that resetFeed uses.
type consumerDeleter interface {
	DeleteConsumer(ctx context.Context, stream, consumer string) error
}

// resetFeed makes durable deliver the catalog stream from its start when
// idx was not fed by it (a new index): it deletes the durable, so that
// Consume creates it again from the first event, and then records it in
// the index. A missing durable or stream is already reset.
func resetFeed(ctx context.Context, js consumerDeleter, idx *Index, durable string) error {
	cur, err := idx.Durable()
	if err != nil || cur == durable {
		return err
	}
	err = js.DeleteConsumer(ctx, events.StreamOf("catalog"), durable)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("reset consumer %s: %w", durable, err)
	}
	return idx.SetDurable(durable)
}
