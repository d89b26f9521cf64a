package events

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/souk/souk/platform/telemetry"
)

// Outcomes of a delivered message, the outcome label of
// souk_events_handled_total.
const (
	OutcomeOK         = "ok"          // the handler succeeded; the message is acked
	OutcomeRetry      = "retry"       // the handler failed; redelivered after a backoff
	OutcomeDeadLetter = "dead_letter" // written to the DLQ and terminated
	OutcomeShutdown   = "shutdown"    // cut short by shutdown; handed back for redelivery
)

// LagBuckets are the upper bounds (seconds) of souk_event_lag_seconds: fine
// around the 50 ms target, then coarse up to the minutes of a backlog.
var LagBuckets = []float64{.001, .002, .005, .01, .015, .02, .03, .05, .075, .1, .15, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

// metrics are a bus's Prometheus collectors, shared by its consumers.
type metrics struct {
	lag     *prometheus.HistogramVec // consumer
	handled *prometheus.CounterVec   // consumer, outcome
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "souk", Name: "event_lag_seconds",
			Help:    "Time from an event's creation (Event.Time, stamped by its publisher when it commits the event) to the moment this consumer's handler returned success, i.e. its effect committed. Includes outbox relay, broker, delivery, queueing in the consumer and the handler; redeliveries included.",
			Buckets: LagBuckets,
		}, []string{"consumer"}),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "souk", Name: "events_handled_total",
			Help: "Messages delivered to a consumer, by outcome: ok, retry, dead_letter, shutdown.",
		}, []string{"consumer", "outcome"}),
	}
	if reg != nil {
		m.lag = telemetry.Register(reg, m.lag)
		m.handled = telemetry.Register(reg, m.handled)
	}
	return m
}

// consumerMetrics are one consumer's series, resolved once at Consume, so
// handling a message costs no label lookup.
type consumerMetrics struct {
	lag                             prometheus.Observer
	ok, retry, deadLetter, shutdown prometheus.Counter
	now                             func() time.Time
}

func (m *metrics) forConsumer(durable string, now func() time.Time) consumerMetrics {
	return consumerMetrics{
		lag:        m.lag.WithLabelValues(durable),
		ok:         m.handled.WithLabelValues(durable, OutcomeOK),
		retry:      m.handled.WithLabelValues(durable, OutcomeRetry),
		deadLetter: m.handled.WithLabelValues(durable, OutcomeDeadLetter),
		shutdown:   m.handled.WithLabelValues(durable, OutcomeShutdown),
		now:        now,
	}
}

// handled counts a success and observes the event's lag. An event without
// a time (a publisher that did not use New) is counted but not observed; a
// negative lag (the publisher's clock ahead of ours) is observed as 0.
func (m consumerMetrics) handled(ev Event) {
	m.ok.Inc()
	if ev.Time.IsZero() {
		return
	}
	m.lag.Observe(max(0, m.now().Sub(ev.Time).Seconds()))
}
