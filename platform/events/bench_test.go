package events

import (
	"context"
	"fmt"
	"syscall"
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

// BenchmarkConsumeTrickle measures what one event costs a consumer and the
// broker when events arrive one at a time (the steady state of a service
// at a few hundred events/s): each event is published after the previous
// one was handled and acked. The broker runs in this process, so cpu-µs/event
// is the CPU of both sides (publisher, broker, consumer) per event.
func BenchmarkConsumeTrickle(b *testing.B) {
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			e := newEnv(b, brokertest.Embedded(b))
			e.publish(b)
			evs := benchEvents(b, e, b.N)
			handled := make(chan struct{}, 1)
			cfg := e.config("bench")
			cfg.Concurrency = conc
			consume(b, e.bus2, cfg, func(context.Context, Event) error { handled <- struct{}{}; return nil })
			ctx := context.Background()
			b.ResetTimer()
			cpu0, start := cpuTime(), time.Now()
			for i := range b.N {
				if err := e.bus.Publish(ctx, evs[i]); err != nil {
					b.Fatal(err)
				}
				<-handled
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// cpuTime is the CPU (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
