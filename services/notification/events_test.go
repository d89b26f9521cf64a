package notification

import (
	"context"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/souk/souk/platform/broker"
	"github.com/souk/souk/platform/brokertest"
	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
)

// TestConsumersOverNATS checks the wiring Run uses: every event the order
// and warehouse services publish reaches its consumer on the subject they
// publish it to. It runs on an embedded server only: the durables and
// streams have fixed names, which tests sharing an external server would
// fight over.
func TestConsumersOverNATS(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		nc, js, err := broker.Connect(ctx, brokertest.Embedded(t), "notification-test", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		bus := events.NewBus(nc, js, events.Options{})

		consumeCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer func() { stop(); wg.Wait() }()
		for _, c := range svc.Consumers(4) {
			wg.Go(func() {
				if err := bus.Consume(consumeCtx, c.Config, c.Handle); err != nil {
					t.Errorf("consume %s: %v", c.Config.Durable, err)
				}
			})
		}

		publish := func(typ, source string, data any) {
			t.Helper()
			ev, err := events.New(typ, source, "o1", data)
			if err != nil {
				t.Fatal(err)
			}
			// Twice: the second is a duplicate the stream drops.
			for range 2 {
				if err := bus.Publish(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
		}
		publish("ORDER_PLACED", "order", placed("o1", "alice"))
		publish("ORDER_CANCELLED", "order", cancelled("o1", "alice"))
		publish("ORDER_SHIPPED", "warehouse", shipped("o1", "alice"))

		want := map[string]bool{KindConfirmation: true, KindCancelled: true, KindShipped: true}
		for {
			page, err := svc.List(ctx, "alice", "", 10)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, m := range page.Items {
				got[m.Kind] = true
			}
			if len(page.Items) == len(want) && len(got) == len(want) {
				return
			}
			if len(page.Items) > len(want) {
				t.Fatalf("%d messages, want %d: %+v", len(page.Items), len(want), page.Items)
			}
			select {
			case <-ctx.Done():
				t.Fatalf("messages after 30s: %+v; want one of each kind", page.Items)
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
}
