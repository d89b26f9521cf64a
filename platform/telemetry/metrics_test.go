package telemetry

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "souk_test_total", Help: "test"}
	first := Register(reg, prometheus.NewCounterVec(opts, []string{"a"}))
	second := Register(reg, prometheus.NewCounterVec(opts, []string{"a"}))
	if first != second {
		t.Fatal("a second registration under the same name did not return the first collector")
	}
	second.WithLabelValues("x").Inc()
	if n, _ := reg.Gather(); len(n) != 1 {
		t.Fatalf("gathered %d families, want 1", len(n))
	}
	defer func() {
		if recover() == nil {
			t.Error("a conflicting registration (same name, other labels) did not panic")
		}
	}()
	Register(reg, prometheus.NewCounterVec(opts, []string{"b"}))
}
