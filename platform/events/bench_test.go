package events

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/souk/souk/platform/brokertest"
)

func benchEvents(b *testing.B, e *env, n int) []Event {
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = e.event(b, "ORDER_PLACED", fmt.Sprint(i))
		evs[i].Data = []byte(`{"order_id":"o-123","customer_id":"c-456","total_cents":12999,"lines":[{"sku":"SKU-1","qty":2}]}`)
	}
	return evs
}

// BenchmarkPublish measures synchronous publishes (one round trip each) on
// an embedded server.
func BenchmarkPublish(b *testing.B) {
	e := newEnv(b, brokertest.Embedded(b))
	e.publish(b)
	evs := benchEvents(b, e, b.N)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if err := e.bus.Publish(ctx, evs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkPublishBatch measures PublishBatch in batches of 100 and 1000
// (an outbox relay's batch) on an embedded server.
func BenchmarkPublishBatch(b *testing.B) {
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			e := newEnv(b, brokertest.Embedded(b))
			e.publish(b)
			evs := benchEvents(b, e, b.N)
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i += size {
				if err := e.bus.PublishBatch(ctx, evs[i:min(i+size, b.N)]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}
