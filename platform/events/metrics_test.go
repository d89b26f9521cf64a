package events

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/souk/souk/platform/brokertest"
)

// metricsEnv gives e.bus2 (the consuming bus) a registry of its own and a
// fixed clock.
func metricsEnv(t *testing.T, url string, now time.Time) (*env, *prometheus.Registry) {
	t.Helper()
	e := newEnv(t, url)
	reg := prometheus.NewRegistry()
	e.bus2.metrics = newMetrics(reg)
	e.bus2.now = func() time.Time { return now }
	return e, reg
}

// lagHistogram returns the souk_event_lag_seconds series of consumer.
func lagHistogram(t *testing.T, reg *prometheus.Registry, consumer string) *dto.Histogram {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "souk_event_lag_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "consumer" && l.GetValue() == consumer {
					return m.GetHistogram()
				}
			}
		}
	}
	t.Fatalf("no souk_event_lag_seconds{consumer=%q}", consumer)
	return nil
}

func TestMetrics(t *testing.T) {
	for _, srv := range brokertest.Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			t.Run("lag and outcomes", func(t *testing.T) { testLagAndOutcomes(t, srv.URL) })
			t.Run("shutdown", func(t *testing.T) { testShutdownOutcome(t, srv.URL) })
		})
	}
}

func testLagAndOutcomes(t *testing.T, url string) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e, reg := metricsEnv(t, url, now)
	at := func(key string, lag time.Duration) Event {
		ev := e.event(t, "ORDER_PLACED", key)
		ev.Time = now.Add(-lag)
		return ev
	}
	untimed := e.event(t, "ORDER_PLACED", "untimed")
	untimed.Time = time.Time{}
	e.publish(t,
		at("fast", 30*time.Millisecond),
		at("slow", 2*time.Second),
		at("future", -time.Second), // publisher's clock ahead: lag 0
		untimed,                    // counted, not observed
		at("flaky", 100*time.Millisecond),
		at("poison", time.Millisecond),
	)
	var mu sync.Mutex
	tries := map[string]int{}
	rec := recorder{fn: func(_ int, ev Event) error {
		mu.Lock()
		tries[ev.Key]++
		n := tries[ev.Key]
		mu.Unlock()
		switch {
		case ev.Key == "poison":
			return Permanent(errors.New("poison"))
		case ev.Key == "flaky" && n == 1:
			return errors.New("flaky")
		}
		return nil
	}}
	cfg := e.config("lag")
	consume(t, e.bus2, cfg, rec.handle)
	waitFor(t, "7 deliveries", 10*time.Second, func() bool { return rec.count() == 7 })
	e.settled(t, cfg.Durable)

	counts := map[string]float64{}
	for _, o := range []string{OutcomeOK, OutcomeRetry, OutcomeDeadLetter, OutcomeShutdown} {
		counts[o] = testutil.ToFloat64(e.bus2.metrics.handled.WithLabelValues(cfg.Durable, o))
	}
	want := map[string]float64{OutcomeOK: 5, OutcomeRetry: 1, OutcomeDeadLetter: 1, OutcomeShutdown: 0}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("souk_events_handled_total (-want +got):\n%s", diff)
	}

	h := lagHistogram(t, reg, cfg.Durable)
	if got, want := h.GetSampleCount(), uint64(4); got != want {
		t.Errorf("lag sample count = %d, want %d (fast, slow, future, flaky)", got, want)
	}
	if got, want := h.GetSampleSum(), 2.13; math.Abs(got-want) > 1e-9 {
		t.Errorf("lag sample sum = %g, want %g", got, want)
	}
	cumulative := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		cumulative[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	for _, tc := range []struct {
		le   float64
		want uint64
	}{{.001, 1}, {.03, 2}, {.05, 2}, {.1, 3}, {1, 3}, {2.5, 4}} {
		if got := cumulative[tc.le]; got != tc.want {
			t.Errorf("lag bucket le=%g = %d, want %d", tc.le, got, tc.want)
		}
	}
}

func testShutdownOutcome(t *testing.T, url string) {
	e, _ := metricsEnv(t, url, time.Now())
	e.publish(t, e.event(t, "ORDER_PLACED", "cut"))
	started := make(chan struct{})
	cfg := e.config("cut")
	stop := consume(t, e.bus2, cfg, func(ctx context.Context, ev Event) error {
		close(started)
		<-ctx.Done()
		return nil // claims success, but shutdown cut it short
	})
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler was not called")
	}
	stop()
	m := e.bus2.metrics
	if got := testutil.ToFloat64(m.handled.WithLabelValues(cfg.Durable, OutcomeShutdown)); got != 1 {
		t.Errorf("shutdown count = %g, want 1", got)
	}
	if got := testutil.ToFloat64(m.handled.WithLabelValues(cfg.Durable, OutcomeOK)); got != 0 {
		t.Errorf("ok count = %g, want 0", got)
	}
	if got := testutil.CollectAndCount(m.lag); got != 1 {
		// The series exists from Consume on, with no observation.
		t.Errorf("lag series = %d, want 1", got)
	}
}

// TestMetricsRegistry checks that buses share one registry and that a bus
// without one still works.
func TestMetricsRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := NewBus(nil, nil, Options{Metrics: reg})
	b := NewBus(nil, nil, Options{Metrics: reg}) // must not panic
	if a.metrics.lag != b.metrics.lag || a.metrics.handled != b.metrics.handled {
		t.Error("second bus on a registry got its own collectors, want the registered ones")
	}
	a.metrics.forConsumer("c", time.Now).handled(Event{Time: time.Now()})
	if got := testutil.ToFloat64(b.metrics.handled.WithLabelValues("c", OutcomeOK)); got != 1 {
		t.Errorf("shared counter = %g, want 1", got)
	}
	if got := lagHistogram(t, reg, "c").GetSampleCount(); got != 1 {
		t.Errorf("registered lag count = %d, want 1", got)
	}
	NewBus(nil, nil, Options{}).metrics.forConsumer("c", time.Now).handled(Event{Time: time.Now()})
}
