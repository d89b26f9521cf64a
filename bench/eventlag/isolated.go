package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/platform/broker"
	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/services/notification"
)

// IsolatedConfig is what one measurement does.
type IsolatedConfig struct {
	Mode        string        // direct or outbox
	Rate        float64       // orders per second
	Duration    time.Duration // of arrivals, warm-up included
	Warmup      time.Duration // arrivals in the first Warmup are not counted
	Concurrency int           // notification handlers per consumer
	Filler      int           // other order events per order on the same stream (CREATED, STOCK_RESERVED, PAYMENT_CAPTURED)
	SyncAlways  bool          // broker fsyncs every write (souk up --durability strict)
	RelayPoll   time.Duration // outbox relay poll interval (0: the relay's default)
	Dir         string        // working folder; empty: a temporary one, removed after
}

// Validate reports a config that cannot run.
func (c IsolatedConfig) Validate() error {
	switch {
	case c.Mode != "direct" && c.Mode != "outbox":
		return fmt.Errorf("--mode is %q, want direct or outbox", c.Mode)
	case !(c.Rate > 0) || c.Duration <= 0 || c.Warmup < 0 || c.Warmup >= c.Duration:
		return errors.New("--rate and --duration must be more than 0, --warmup from 0 to below --duration")
	case c.Concurrency < 1 || c.Concurrency > 64:
		return errors.New("--concurrency must be 1 to 64")
	case c.Filler < 0 || c.Filler > 10:
		return errors.New("--filler must be 0 to 10")
	}
	return nil
}

// IsolatedReport is the result, written as JSON.
type IsolatedReport struct {
	Config        IsolatedConfig `json:"config"`
	Scheduled     int            `json:"scheduled"`      // arrivals after warm-up
	Handled       int            `json:"handled"`        // of those, emails committed
	PublishErrors int            `json:"publish_errors"` // publishes or outbox commits that failed
	AchievedRate  float64        `json:"achieved_rate"`  // arrivals per second actually started
	SchedLateMs   Quantiles      `json:"sched_late_ms"`  // how late the generator started arrivals
	LagMs         Quantiles      `json:"lag_ms"`         // publish/commit → email committed, exact (ns clock)
	// LagFromEventTimeMs is the same from Event.Time as the consumer sees it
	// (in outbox mode truncated to ms by the outbox table, as in the order
	// service), i.e. what souk_event_lag_seconds observes.
	LagFromEventTimeMs Quantiles `json:"lag_from_event_time_ms"`
	// LagDBMs is the lag as bench/eventlag.sh computes it for the whole
	// system: messages.created_at − the event's time, both in ms.
	LagDBMs   Quantiles `json:"lag_db_ms"`
	Histogram HistSum   `json:"histogram"` // souk_event_lag_seconds of the ORDER_PLACED consumer
	Messages  int       `json:"messages"`  // confirmation rows in the notification database
	CPUUsPer  float64   `json:"cpu_us_per_order"`
	CPUUtil   float64   `json:"cpu_cores"` // process CPU seconds per wall second during arrivals
}

// Quantiles of a distribution in milliseconds.
type Quantiles struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// HistSum summarises the Prometheus histogram the consumer kept.
type HistSum struct {
	Count   uint64  `json:"count"`
	P50Ms   float64 `json:"p50_ms"` // histogram_quantile-style estimates
	P99Ms   float64 `json:"p99_ms"`
	Le50Pct float64 `json:"le_50ms_pct"` // share of events at most 50 ms
}

func runIsolated(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eventlag isolated", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg IsolatedConfig
	fs.StringVar(&cfg.Mode, "mode", "outbox", "direct: publish each event to the broker; outbox: commit it to an outbox table and let the relay publish it")
	fs.Float64Var(&cfg.Rate, "rate", 500, "orders per second")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to schedule arrivals")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "arrivals not counted at the start")
	fs.IntVar(&cfg.Concurrency, "concurrency", 8, "handlers per consumer (notification's default is 8)")
	fs.IntVar(&cfg.Filler, "filler", 0, "other events per order on the order stream (the order service publishes only ORDER_PLACED for a placed order)")
	fs.BoolVar(&cfg.SyncAlways, "sync-always", false, "broker fsyncs every write (durability strict)")
	fs.DurationVar(&cfg.RelayPoll, "relay-poll", 0, "outbox relay poll interval (default: the relay's)")
	fs.StringVar(&cfg.Dir, "dir", "", "working folder (default: a temporary one)")
	jsonOut := fs.String("json", "", "write the report as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	rep, err := measure(ctx, cfg)
	if err != nil {
		return err
	}
	writeIsolated(stdout, rep)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	return nil
}

// sample is one counted order.
type sample struct {
	start   time.Time // publish (direct) or outbox commit (outbox)
	evTime  time.Time // Event.Time as the consumer will see it
	handled time.Time // handler returned nil
}

func measure(ctx context.Context, cfg IsolatedConfig) (*IsolatedReport, error) {
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "eventlag-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	srv, err := broker.StartEmbedded(broker.EmbeddedOptions{Dir: filepath.Join(dir, "nats"), SyncAlways: cfg.SyncAlways})
	if err != nil {
		return nil, err
	}
	defer srv.Shutdown()

	setupCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	// Two connections, as publisher and consumer are two processes.
	pnc, pjs, err := broker.Connect(setupCtx, srv.ClientURL(), "order-bench", nil)
	if err != nil {
		return nil, err
	}
	defer pnc.Close()
	cnc, cjs, err := broker.Connect(setupCtx, srv.ClientURL(), "notification-bench", nil)
	if err != nil {
		return nil, err
	}
	defer cnc.Close()
	pub := events.NewBus(pnc, pjs, events.Options{})
	if err := pub.EnsureStream(setupCtx, "order"); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	cbus := events.NewBus(cnc, cjs, events.Options{Metrics: reg})

	ndb, err := sqlstore.Open(setupCtx, sqlstore.Options{
		DSN: filepath.Join(dir, "notification", "notification.db"), Name: "notification",
		Migrations: notification.Migrations(), Durability: sqlstore.Normal,
	})
	if err != nil {
		return nil, err
	}
	defer ndb.Close()

	var mu sync.Mutex
	samples := map[string]*sample{}
	svc := notification.NewService(ndb, time.Now)
	runCtx, stopConsumers := context.WithCancel(context.WithoutCancel(ctx))
	var consumers sync.WaitGroup
	defer func() { stopConsumers(); consumers.Wait() }()
	for _, c := range svc.Consumers(cfg.Concurrency) {
		h := c.Handle
		if c.Config.Durable == notification.ConsumerOrderPlaced {
			h = func(ctx context.Context, ev events.Event) error {
				err := c.Handle(ctx, ev)
				if err == nil {
					now := time.Now()
					mu.Lock()
					if s := samples[ev.ID]; s != nil && s.handled.IsZero() {
						s.handled = now
					}
					mu.Unlock()
				}
				return err
			}
		}
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			if err := cbus.Consume(runCtx, c.Config, h); err != nil {
				fmt.Fprintln(os.Stderr, "consume:", err)
			}
		}()
	}
	for {
		if _, err := cjs.Consumer(setupCtx, events.StreamOf("order"), notification.ConsumerOrderPlaced); err == nil {
			break
		}
		select {
		case <-setupCtx.Done():
			return nil, errors.New("the ORDER_PLACED consumer did not start")
		case <-time.After(20 * time.Millisecond):
		}
	}

	// send delivers one order's events and returns when its start is known.
	var send func(ctx context.Context, evs []events.Event) (time.Time, error)
	switch cfg.Mode {
	case "direct":
		send = func(ctx context.Context, evs []events.Event) (time.Time, error) {
			for i := range evs[:len(evs)-1] {
				if err := pub.Publish(ctx, evs[i]); err != nil {
					return time.Time{}, err
				}
			}
			last := &evs[len(evs)-1]
			last.Time = time.Now().UTC()
			return last.Time, pub.Publish(ctx, *last)
		}
	case "outbox":
		odb, err := sqlstore.Open(setupCtx, sqlstore.Options{DSN: filepath.Join(dir, "order", "order.db"), Name: "order", Durability: sqlstore.Normal})
		if err != nil {
			return nil, err
		}
		defer odb.Close()
		relay := outbox.NewRelay(outbox.Table{DB: odb}, pub, outbox.Options{Interval: cfg.RelayPoll})
		consumers.Add(1)
		go func() { defer consumers.Done(); _ = relay.Run(runCtx) }()
		send = func(ctx context.Context, evs []events.Event) (time.Time, error) {
			// Stamped before the transaction waits for the write
			// connection, as the order service stamps its events.
			now := time.Now().UTC()
			err := odb.Tx(ctx, func(tx *sqlstore.Tx) error {
				for i := range evs {
					evs[i].Time = now
					if err := outbox.Add(ctx, tx, evs[i]); err != nil {
						return err
					}
				}
				return nil
			})
			committed := time.Now()
			relay.Notify()
			return committed, err
		}
	}

	n := int(math.Round(cfg.Rate * cfg.Duration.Seconds()))
	warm := int(math.Round(cfg.Rate * cfg.Warmup.Seconds()))
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	var pubErrs atomic.Int64
	late := make([]float64, 0, n)
	var senders sync.WaitGroup
	cpu0 := cpuTime()
	t0 := time.Now()
	for i := range n {
		due := t0.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		late = append(late, float64(time.Since(due))/1e6)
		evs, err := orderEvents(cfg.Filler)
		if err != nil {
			return nil, err
		}
		placed := evs[len(evs)-1].ID
		counted := i >= warm
		if counted {
			mu.Lock()
			samples[placed] = &sample{}
			mu.Unlock()
		}
		senders.Add(1)
		go func() {
			defer senders.Done()
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			start, err := send(pctx, evs)
			if err != nil {
				pubErrs.Add(1)
				return
			}
			if counted {
				mu.Lock()
				s := samples[placed]
				s.start = start
				s.evTime = evs[len(evs)-1].Time
				if cfg.Mode == "outbox" {
					s.evTime = s.evTime.Truncate(time.Millisecond) // what the outbox row keeps
				}
				mu.Unlock()
			}
		}()
	}
	arrivals := time.Since(t0)
	cpu1 := cpuTime()
	senders.Wait()

	// Wait for the stragglers: at most 30s without progress.
	deadline := time.Now().Add(30 * time.Second)
	for last := -1; ; {
		mu.Lock()
		done := 0
		for _, s := range samples {
			if !s.handled.IsZero() {
				done++
			}
		}
		mu.Unlock()
		if done == len(samples)-int(pubErrs.Load()) || time.Now().After(deadline) {
			break
		}
		if done != last {
			last, deadline = done, time.Now().Add(30*time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopConsumers()
	consumers.Wait()

	rep := &IsolatedReport{Config: cfg, Scheduled: n - warm, PublishErrors: int(pubErrs.Load())}
	rep.AchievedRate = float64(n) / arrivals.Seconds()
	rep.SchedLateMs = quantiles(late)
	rep.CPUUtil = (cpu1 - cpu0).Seconds() / arrivals.Seconds()
	rep.CPUUsPer = float64((cpu1 - cpu0).Microseconds()) / float64(n)
	var lag, lagEv []float64
	for _, s := range samples {
		if s.handled.IsZero() || s.start.IsZero() {
			continue
		}
		lag = append(lag, float64(s.handled.Sub(s.start))/1e6)
		lagEv = append(lagEv, float64(s.handled.Sub(s.evTime))/1e6)
	}
	rep.Handled = len(lag)
	rep.LagMs, rep.LagFromEventTimeMs = quantiles(lag), quantiles(lagEv)
	if rep.LagDBMs, rep.Messages, err = dbLag(ctx, ndb, samples); err != nil {
		return nil, err
	}
	if rep.Histogram, err = histogram(reg, notification.ConsumerOrderPlaced); err != nil {
		return nil, err
	}
	return rep, nil
}

// orderEvents returns filler events and then the ORDER_PLACED of one new
// order, shaped as the order service publishes them.
func orderEvents(filler int) ([]events.Event, error) {
	orderID := uuid.NewString()
	types := []string{"ORDER_CREATED", "ORDER_STOCK_RESERVED", "ORDER_PAYMENT_CAPTURED"}
	var evs []events.Event
	for i := range filler {
		ev, err := events.New(types[i%len(types)], "order", orderID, map[string]string{"order_id": orderID})
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	ev, err := events.New("ORDER_PLACED", "order", orderID, notification.OrderPlaced{
		OrderID: orderID, CustomerID: "u-" + orderID[:8], Email: "bench@example.com", Name: "Bench",
		Items:      []notification.Item{{ProductID: "p1", Name: "Teapot", Quantity: 2, PriceCents: 1999}},
		TotalCents: 3998, Currency: "EUR", TransactionID: "tx-" + orderID[:8],
	})
	if err != nil {
		return nil, err
	}
	return append(evs, ev), nil
}

// dbLag computes the lag the way the system benchmark does: from the
// messages table (created_at, ms) against the event's time in ms.
func dbLag(ctx context.Context, db *sqlstore.DB, samples map[string]*sample) (Quantiles, int, error) {
	rows, err := db.Query(ctx, `SELECT event_id, created_at FROM messages WHERE kind = 'order_confirmation'`)
	if err != nil {
		return Quantiles{}, 0, fmt.Errorf("read messages: %w", err)
	}
	defer rows.Close()
	var out []float64
	n := 0
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			return Quantiles{}, 0, fmt.Errorf("read messages: %w", err)
		}
		n++
		if s := samples[id]; s != nil && !s.start.IsZero() {
			out = append(out, float64(at-s.evTime.UnixMilli()))
		}
	}
	return quantiles(out), n, rows.Err()
}

func histogram(reg *prometheus.Registry, consumer string) (HistSum, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return HistSum{}, err
	}
	for _, mf := range mfs {
		if mf.GetName() != "souk_event_lag_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() != consumer {
				continue
			}
			h := m.GetHistogram()
			var ub []float64
			var cum []uint64
			for _, b := range h.GetBucket() {
				ub = append(ub, b.GetUpperBound())
				cum = append(cum, b.GetCumulativeCount())
			}
			return summarize(h.GetSampleCount(), ub, cum), nil
		}
	}
	return HistSum{}, nil
}

// summarize estimates quantiles from cumulative bucket counts cum at upper
// bounds ub (seconds, +Inf left out) of total observations.
func summarize(total uint64, ub []float64, cum []uint64) HistSum {
	out := HistSum{Count: total}
	if total == 0 {
		return out
	}
	out.P50Ms = 1000 * histQuantile(0.5, ub, cum, total)
	out.P99Ms = 1000 * histQuantile(0.99, ub, cum, total)
	for i, u := range ub {
		if u == 0.05 {
			out.Le50Pct = 100 * float64(cum[i]) / float64(total)
		}
	}
	return out
}

// histQuantile interpolates linearly within the bucket, as PromQL's
// histogram_quantile does.
func histQuantile(q float64, ub []float64, cum []uint64, total uint64) float64 {
	rank := q * float64(total)
	lower, below := 0.0, uint64(0)
	for i, u := range ub {
		if float64(cum[i]) >= rank {
			in := cum[i] - below
			if in == 0 {
				return u
			}
			return lower + (u-lower)*(rank-float64(below))/float64(in)
		}
		lower, below = u, cum[i]
	}
	return math.Inf(1)
}

// quantiles returns the nearest-rank quantiles of xs (sorted in place).
func quantiles(xs []float64) Quantiles {
	if len(xs) == 0 {
		return Quantiles{}
	}
	slices.Sort(xs)
	at := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(xs)))) - 1
		return math.Round(xs[max(0, min(i, len(xs)-1))]*1000) / 1000
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return Quantiles{N: len(xs), P50: at(.5), P90: at(.9), P99: at(.99), P999: at(.999), Max: at(1),
		Mean: math.Round(sum/float64(len(xs))*1000) / 1000}
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func writeIsolated(w io.Writer, r *IsolatedReport) {
	fmt.Fprintf(w, "mode=%s rate=%g/s (achieved %.1f) concurrency=%d filler=%d: %d/%d handled, %d publish errors, %d messages\n",
		r.Config.Mode, r.Config.Rate, r.AchievedRate, r.Config.Concurrency, r.Config.Filler, r.Handled, r.Scheduled, r.PublishErrors, r.Messages)
	fmt.Fprintf(w, "  %-28s %8s %8s %8s %8s %8s\n", "lag (ms)", "p50", "p90", "p99", "p99.9", "max")
	for _, row := range []struct {
		name string
		q    Quantiles
	}{{"exact (ns clock)", r.LagMs}, {"from Event.Time", r.LagFromEventTimeMs}, {"from DB rows (ms)", r.LagDBMs}} {
		fmt.Fprintf(w, "  %-28s %8.2f %8.2f %8.2f %8.2f %8.2f\n", row.name, row.q.P50, row.q.P90, row.q.P99, row.q.P999, row.q.Max)
	}
	fmt.Fprintf(w, "  histogram: n=%d p50≈%.1fms p99≈%.1fms ≤50ms %.2f%%; generator late p99 %.2fms; CPU %.2f cores, %.0f µs/order\n",
		r.Histogram.Count, r.Histogram.P50Ms, r.Histogram.P99Ms, r.Histogram.Le50Pct, r.SchedLateMs.P99, r.CPUUtil, r.CPUUsPer)
}
