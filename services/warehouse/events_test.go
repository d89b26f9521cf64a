package warehouse

import (
	"context"
	"encoding/json"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/souk/souk/platform/broker"
	"github.com/souk/souk/platform/brokertest"
	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
)

// TestOverNATS checks the wiring Run uses, end to end on a broker:
// ORDER_PLACED from the order stream makes a task, and shipping it
// publishes ORDER_SHIPPED on the subject the order and notification
// services consume. It runs on an embedded server only: the durables and
// streams have fixed names, which tests sharing an external server would
// fight over.
func TestOverNATS(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(Migrations())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		nc, js, err := broker.Connect(ctx, brokertest.Embedded(t), "warehouse-test", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		bus := events.NewBus(nc, js, events.Options{})
		if err := bus.EnsureStream(ctx, "warehouse"); err != nil {
			t.Fatal(err)
		}
		table := outbox.Table{DB: db}
		relay := outbox.NewRelay(table, bus, outbox.Options{})
		svc := NewService(db, time.Now, relay.Notify)

		shippedEvents := make(chan events.Event, 4)
		workCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer func() { stop(); wg.Wait() }()
		wg.Go(func() { _ = relay.Run(workCtx) })
		wg.Go(func() {
			if err := bus.Consume(workCtx, OrderPlacedConsumer(4), svc.HandleOrderPlaced); err != nil {
				t.Errorf("consume: %v", err)
			}
		})
		wg.Go(func() {
			cfg := events.ConsumerConfig{Durable: "test-order-shipped", Stream: "warehouse", Subject: "warehouse.order_shipped"}
			err := bus.Consume(workCtx, cfg, func(_ context.Context, ev events.Event) error {
				shippedEvents <- ev
				return nil
			})
			if err != nil {
				t.Errorf("consume shipped: %v", err)
			}
		})

		ev := placed(t, "o1")
		if err := bus.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
		var task Task
		for {
			page, err := svc.List(ctx, ListQuery{OrderID: "o1", Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Items) == 1 {
				task = page.Items[0]
				break
			}
			select {
			case <-ctx.Done():
				t.Fatal("no task after 30s")
			case <-time.After(20 * time.Millisecond):
			}
		}

		if _, err := svc.Ship(ctx, task.ID); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-shippedEvents:
			var data Shipped
			if err := json.Unmarshal(got.Data, &data); err != nil {
				t.Fatal(err)
			}
			if got.Type != EventShipped || got.Key != "o1" || data.TaskID != task.ID || data.OrderID != "o1" || data.Email != "alice@example.com" {
				t.Errorf("ORDER_SHIPPED = %+v, data %+v", got, data)
			}
		case <-ctx.Done():
			t.Fatal("no ORDER_SHIPPED after 30s")
		}
	})
}
