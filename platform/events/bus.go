package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/faultinject"
)

// Options configures a Bus. Zero values take the defaults.
type Options struct {
	Replicas int           // stream replicas; default 1 (3 on a cluster)
	MaxAge   time.Duration // how long streams keep events; default 30 days
	Logger   *slog.Logger
	// Faults enables the crash point <durable>.after_handle: after a
	// handler succeeded, before the ack (package faultinject).
	Faults *faultinject.Points
	// Metrics, when set, registers souk_event_lag_seconds{consumer} and
	// souk_events_handled_total{consumer,outcome} (see the package doc).
	Metrics prometheus.Registerer
}

// Defaults.
const (
	DefaultMaxAge = 30 * 24 * time.Hour
	// DLQStream is the stream of dead letters, subjects "dlq.<durable>".
	DLQStream = "DLQ"

	duplicateWindow     = 2 * time.Minute
	defaultBatchTimeout = 30 * time.Second
	// batchWindow bounds the publishes of one batch awaiting their ack, below
	// the client's limit of pending async publishes (4000).
	batchWindow = 1024
)

// Bus publishes and consumes events on JetStream. Create it with NewBus; it
// is safe for concurrent use.
type Bus struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	opts    Options
	log     *slog.Logger
	metrics *metrics
	now     func() time.Time // the clock of the lag metric; tests set it

	// The DLQ stream and its subject prefix; tests change them to isolate
	// themselves on a shared server.
	dlqStream, dlqPrefix string
}

// NewBus returns a bus on the connection nc and its JetStream handle js.
func NewBus(nc *nats.Conn, js jetstream.JetStream, opts Options) *Bus {
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Bus{
		nc: nc, js: js, opts: opts, log: opts.Logger.With("component", "events"),
		metrics: newMetrics(opts.Metrics), now: time.Now,
		dlqStream: DLQStream, dlqPrefix: dlqSource,
	}
}

func (b *Bus) streamConfig(name string, subjects ...string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:       name,
		Subjects:   subjects,
		Storage:    jetstream.FileStorage,
		Replicas:   b.opts.Replicas,
		MaxAge:     b.opts.MaxAge,
		Duplicates: min(duplicateWindow, b.opts.MaxAge),
		Retention:  jetstream.LimitsPolicy,
		Discard:    jetstream.DiscardOld,
	}
}

// EnsureStream creates the stream of source's events, or updates it to the
// bus's options. It is idempotent. It returns an Invalid error for a bad
// source and the broker's error otherwise.
func (b *Bus) EnsureStream(ctx context.Context, source string) error {
	if !validSource(source) {
		return fault.Invalidf("event source %q must be lowercase letters, digits, '-' or '_', and not %q", source, dlqSource)
	}
	return b.ensure(ctx, b.streamConfig(StreamOf(source), source+".>"))
}

// EnsureDLQ creates the dead-letter stream DLQ (subjects "dlq.>"), or
// updates it to the bus's options. Consume calls it.
func (b *Bus) EnsureDLQ(ctx context.Context) error {
	return b.ensure(ctx, b.streamConfig(b.dlqStream, b.dlqPrefix+".>"))
}

// ensure creates the stream of cfg, or updates it when its configuration
// differs from cfg. A stream already as wanted is left alone: an update
// that changes nothing is still a write on the server (a raft proposal in
// a cluster), and nats-server 2.15 races in it with a consumer being
// created on the same stream (seen by the race detector in this package's
// contract tests), which services starting together do.
func (b *Bus) ensure(ctx context.Context, cfg jetstream.StreamConfig) error {
	if s, err := b.js.Stream(ctx, cfg.Name); err == nil && sameStream(s.CachedInfo().Config, cfg) {
		return nil
	}
	if _, err := b.js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
	}
	return nil
}

// sameStream reports whether a stream configured as have already has the
// settings of want, a streamConfig (which sets every one of them).
func sameStream(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) &&
		have.Storage == want.Storage &&
		have.Replicas == want.Replicas &&
		have.MaxAge == want.MaxAge &&
		have.Duplicates == want.Duplicates &&
		have.Retention == want.Retention &&
		have.Discard == want.Discard
}

// ensureStreamExists creates source's stream when it does not exist yet (a
// consumer started before its publisher) and leaves an existing one as it
// is, so the publisher's options win.
func (b *Bus) ensureStreamExists(ctx context.Context, source string) error {
	_, err := b.js.Stream(ctx, StreamOf(source))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return b.EnsureStream(ctx, source)
	}
	if err != nil {
		return fmt.Errorf("look up stream %s: %w", StreamOf(source), err)
	}
	return nil
}

// message builds the NATS message of ev.
func message(ctx context.Context, ev Event) (*nats.Msg, error) {
	if ev.ID == "" {
		return nil, fault.Invalidf("event %s has no id", ev.Type)
	}
	if err := validate(ev.Type, ev.Source); err != nil {
		return nil, err
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, fault.Wrap(err, fault.Invalid, "", "event data is not JSON")
	}
	return &nats.Msg{
		Subject: SubjectOf(ev.Source, ev.Type),
		Header:  outHeaders(ctx, ev, ev.ID),
		Data:    body,
	}, nil
}

// Publish publishes ev to its subject and waits until JetStream has stored
// it. Its id is the JetStream message id, so a second publish of the same
// event within two minutes is dropped as a duplicate (and succeeds). The
// request id and trace context of ctx travel as headers. It returns an
// Invalid error for a malformed event and an Unavailable error when the
// broker does not acknowledge it before ctx ends (5s without a deadline).
func (b *Bus) Publish(ctx context.Context, ev Event) error {
	msg, err := message(ctx, ev)
	if err != nil {
		return fmt.Errorf("publish %s: %w", ev.Type, err)
	}
	if _, err := b.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publish %s %s: %w", msg.Subject, ev.ID, unavailable(err))
	}
	return nil
}

// PublishBatch publishes evs in order without waiting for each ack, then
// waits for all of them: the throughput path of an outbox relay. When any
// fails it returns an error naming the first failed event, and the caller
// retries the whole batch: the events that were stored are dropped as
// duplicates. After a failure the stream may hold the batch out of order
// (a later event stored, an earlier one not). Errors are Invalid for a
// malformed event, Unavailable otherwise. Without a deadline on ctx it
// waits at most 30s.
func (b *Bus) PublishBatch(ctx context.Context, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultBatchTimeout)
		defer cancel()
	}
	futures := make([]jetstream.PubAckFuture, len(evs))
	acked := 0 // futures[:acked] are acknowledged
	wait := func(i int) error {
		select {
		case <-futures[i].Ok():
			return nil
		case err := <-futures[i].Err():
			return fmt.Errorf("publish batch: event %d of %d (%s %s): %w", i+1, len(evs), evs[i].Type, evs[i].ID, unavailable(err))
		case <-ctx.Done():
			return fmt.Errorf("publish batch: event %d of %d (%s %s): %w", i+1, len(evs), evs[i].Type, evs[i].ID, unavailable(ctx.Err()))
		}
	}
	for i, ev := range evs {
		msg, err := message(ctx, ev)
		if err != nil {
			return fmt.Errorf("publish batch: event %d of %d: %w", i+1, len(evs), err)
		}
		for i-acked >= batchWindow {
			if err := wait(acked); err != nil {
				return err
			}
			acked++
		}
		f, err := b.js.PublishMsgAsync(msg)
		if err != nil {
			return fmt.Errorf("publish batch: event %d of %d (%s %s): %w", i+1, len(evs), ev.Type, ev.ID, unavailable(err))
		}
		futures[i] = f
	}
	for ; acked < len(evs); acked++ {
		if err := wait(acked); err != nil {
			return err
		}
	}
	return nil
}

// unavailable marks a broker failure as Unavailable, keeping it as the cause.
func unavailable(err error) error {
	if _, ok := fault.As(err); ok {
		return err
	}
	return fault.Wrap(err, fault.Unavailable, "broker_unavailable", "the event broker is unavailable")
}
