package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestQuantiles(t *testing.T) {
	xs := make([]float64, 0, 1000)
	for i := 1000; i >= 1; i-- {
		xs = append(xs, float64(i))
	}
	got := quantiles(xs)
	want := Quantiles{N: 1000, P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000, Mean: 500.5}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("quantiles (-want +got):\n%s", diff)
	}
	if got := quantiles(nil); got != (Quantiles{}) {
		t.Errorf("quantiles(nil) = %+v, want zero", got)
	}
}

func TestHistQuantile(t *testing.T) {
	ub := []float64{.01, .05, .1}
	cum := []uint64{50, 90, 100} // 50 in (0,10ms], 40 in (10,50], 10 in (50,100]
	for _, tc := range []struct {
		q, want float64
	}{{.5, .01}, {.25, .005}, {.7, .03}, {.95, .075}, {1, .1}} {
		if got := histQuantile(tc.q, ub, cum, 100); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("histQuantile(%g) = %g, want %g", tc.q, got, tc.want)
		}
	}
	if got := summarize(100, ub, cum).Le50Pct; got != 90 {
		t.Errorf("share ≤ 50ms = %g, want 90", got)
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# instance notification-1
# HELP souk_event_lag_seconds lag
# TYPE souk_event_lag_seconds histogram
souk_event_lag_seconds_bucket{consumer="notification-order-placed",le="0.01"} 5
souk_event_lag_seconds_bucket{consumer="notification-order-placed",le="0.05"} 9
souk_event_lag_seconds_bucket{consumer="notification-order-placed",le="+Inf"} 10
souk_events_handled_total{consumer="notification-order-placed",outcome="ok"} 10
# instance notification-2
souk_event_lag_seconds_bucket{consumer="notification-order-placed",le="0.01"} 5
souk_event_lag_seconds_bucket{consumer="notification-order-placed",le="0.05"} 9
souk_event_lag_seconds_bucket{consumer="notification-order-placed",le="+Inf"} 10
souk_events_handled_total{consumer="notification-order-placed",outcome="ok"} 10
souk_events_handled_total{consumer="notification-order-placed",outcome="retry"} 1
`
	path := filepath.Join(t.TempDir(), "metrics.txt")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	hists, handled, err := parseMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	h := hists["notification-order-placed"]
	if h.Count != 20 || h.Le50Pct != 90 {
		t.Errorf("histogram = %+v, want count 20 (both instances) and 90%% ≤ 50ms", h)
	}
	want := map[string]float64{"notification-order-placed/ok": 20, "notification-order-placed/retry": 1}
	if diff := cmp.Diff(want, handled); diff != "" {
		t.Errorf("handled (-want +got):\n%s", diff)
	}
}

// TestIsolated runs the event path briefly in both modes: every counted
// order gets its email, and the report is consistent.
func TestIsolated(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and two databases; skipped with -short")
	}
	for _, mode := range []string{"direct", "outbox"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cfg := IsolatedConfig{Mode: mode, Rate: 200, Duration: time.Second, Warmup: 200 * time.Millisecond, Concurrency: 8, Filler: 1, Dir: t.TempDir()}
			rep, err := measure(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Scheduled != 160 || rep.Handled != rep.Scheduled || rep.PublishErrors != 0 {
				t.Errorf("scheduled %d, handled %d, errors %d; want 160 handled, no errors", rep.Scheduled, rep.Handled, rep.PublishErrors)
			}
			if rep.Messages != 200 {
				t.Errorf("messages = %d, want 200 (warm-up included)", rep.Messages)
			}
			if rep.Histogram.Count != 200 {
				t.Errorf("histogram count = %d, want 200", rep.Histogram.Count)
			}
			if rep.LagMs.P50 <= 0 || rep.LagMs.P50 > rep.LagMs.Max {
				t.Errorf("lag = %+v, want 0 < p50 ≤ max", rep.LagMs)
			}
		})
	}
}
