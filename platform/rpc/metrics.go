package rpc

import (
	"errors"
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/telemetry"
)

// metrics are the client's Prometheus collectors. Label values are resolved
// once per (callee, method, outcome) and cached, so a call costs two map
// reads under a read lock, not a label hash.
type metrics struct {
	calls    *prometheus.CounterVec   // callee, method, outcome
	duration *prometheus.HistogramVec // callee, method
	retries  *prometheus.CounterVec   // callee
	breaker  *prometheus.GaugeVec     // callee

	mu       sync.RWMutex
	counters map[[3]string]prometheus.Counter
	hists    map[[2]string]prometheus.Observer
}

func newMetrics(reg prometheus.Registerer, caller string) *metrics {
	labels := prometheus.Labels{"caller": caller}
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "souk", Subsystem: "rpc_client", Name: "calls_total",
			Help:        "Calls to other services, by callee, HTTP method and outcome (ok, breaker_open, or the fault kind of the error: conflict, unavailable, timeout, ...).",
			ConstLabels: labels,
		}, []string{"callee", "method", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "souk", Subsystem: "rpc_client", Name: "duration_seconds",
			Help:        "Duration of calls to other services, retries included.",
			ConstLabels: labels,
			Buckets:     []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"callee", "method"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "souk", Subsystem: "rpc_client", Name: "retries_total",
			Help:        "Attempts after the first, by callee.",
			ConstLabels: labels,
		}, []string{"callee"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "souk", Subsystem: "rpc_client", Name: "breaker_state",
			Help:        "State of the circuit breaker per callee: 0 closed, 1 half-open, 2 open.",
			ConstLabels: labels,
		}, []string{"callee"}),
		counters: map[[3]string]prometheus.Counter{},
		hists:    map[[2]string]prometheus.Observer{},
	}
	m.calls = telemetry.Register(reg, m.calls)
	m.duration = telemetry.Register(reg, m.duration)
	m.retries = telemetry.Register(reg, m.retries)
	m.breaker = telemetry.Register(reg, m.breaker)
	return m
}

func (m *metrics) observe(callee, method string, d time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		if errors.Is(err, circuitbreaker.ErrOpen) {
			outcome = "breaker_open"
		} else {
			// The kind, not the callee's own codes: bounded cardinality.
			outcome = fault.KindOf(err).String()
		}
	}
	ck := [3]string{callee, method, outcome}
	hk := [2]string{callee, method}
	m.mu.RLock()
	c, okc := m.counters[ck]
	h, okh := m.hists[hk]
	m.mu.RUnlock()
	if !okc || !okh {
		m.mu.Lock()
		if c, okc = m.counters[ck]; !okc {
			c = m.calls.WithLabelValues(callee, method, outcome)
			m.counters[ck] = c
		}
		if h, okh = m.hists[hk]; !okh {
			h = m.duration.WithLabelValues(callee, method)
			m.hists[hk] = h
		}
		m.mu.Unlock()
	}
	c.Inc()
	h.Observe(d.Seconds())
}

func (m *metrics) retry(callee string) { m.retries.WithLabelValues(callee).Inc() }

func (m *metrics) breakerState(callee string, s circuitbreaker.State) {
	v := 0.0
	switch s {
	case circuitbreaker.HalfOpenState:
		v = 1
	case circuitbreaker.OpenState:
		v = 2
	}
	m.breaker.WithLabelValues(callee).Set(v)
}
