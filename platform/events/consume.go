package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/souk/souk/platform/fault"
)

// Handler handles one delivered event. It returns nil when the event's
// effect is done (the message is acked), an error to have it redelivered
// after a backoff, or Permanent(err) to dead-letter it at once.
type Handler func(ctx context.Context, ev Event) error

// ConsumerConfig configures Consume. Zero values take the defaults.
type ConsumerConfig struct {
	Durable     string          // consumer name, shared by all instances of the consuming service
	Stream      string          // the source service whose events are consumed: "order"
	Subject     string          // one filter subject, may be a wildcard; default "<Stream>.>"
	MaxDeliver  int             // attempts before dead-lettering; default 6
	BackOff     []time.Duration // delay before attempt n+1 is BackOff[n-1] (last repeats); default 500ms,1s,2s,5s,10s
	AckWait     time.Duration   // redelivery after a consumer died mid-event; default 30s
	Concurrency int             // handlers in flight per process; default 1
}

// Defaults of ConsumerConfig.
var (
	DefaultBackOff = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second}
)

const (
	DefaultMaxDeliver = 6
	DefaultAckWait    = 30 * time.Second

	setupTimeout   = 10 * time.Second
	restartWait    = time.Second
	dlqPublishWait = 5 * time.Second
	// shutdownRedelivery delays the redelivery of an event cut short by
	// shutdown, long enough for NATS 2.9 to count the attempt.
	shutdownRedelivery = 100 * time.Millisecond
)

func (c ConsumerConfig) withDefaults() (ConsumerConfig, error) {
	if !validToken(c.Durable) {
		return c, fault.Invalidf("consumer durable %q must be letters, digits, '-' or '_'", c.Durable)
	}
	if !validSource(c.Stream) {
		return c, fault.Invalidf("consumer stream %q must be a source service name", c.Stream)
	}
	if c.Subject == "" {
		c.Subject = c.Stream + ".>"
	}
	if !strings.HasPrefix(c.Subject, c.Stream+".") {
		return c, fault.Invalidf("consumer subject %q is not in stream %s (%s.>)", c.Subject, StreamOf(c.Stream), c.Stream)
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if len(c.BackOff) == 0 {
		c.BackOff = DefaultBackOff
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	return c, nil
}

// backoff returns the delay before the next attempt after delivery n failed.
func (c ConsumerConfig) backoff(n int) time.Duration {
	return c.BackOff[max(0, min(n-1, len(c.BackOff)-1))]
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks a handler error as one that no retry can fix (a malformed
// event, a rule the event breaks): Consume dead-letters the event at once.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked by Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Consume handles the events of cfg.Stream matching cfg.Subject with h
// until ctx ends, then waits for the handlers in flight and returns nil
// (also when ctx ends during setup).
// Every process that consumes with the same Durable shares one durable pull
// consumer, so each event is handled by one of them. It creates the source's
// stream if it does not exist yet and the DLQ stream. It returns an Invalid
// error for a bad config and the broker's error when the consumer cannot be
// created; after that, broker outages are logged and waited out.
func (b *Bus) Consume(ctx context.Context, cfg ConsumerConfig, h Handler) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	log := b.log.With("consumer", cfg.Durable, "stream", StreamOf(cfg.Stream))
	cons, err := b.setupConsumer(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("consume %s: %w", cfg.Durable, err)
	}
	c := &consumer{bus: b, cfg: cfg, h: h, log: log, sem: make(chan struct{}, cfg.Concurrency), work: make(chan jetstream.Msg), m: b.metrics.forConsumer(cfg.Durable, b.now)}
	defer c.wg.Wait()
	// One long-lived handler per slot rather than a goroutine per event: a
	// handler's stack grows deep (the handler's database calls), and a
	// fresh goroutine grew it again for every event, copying it each time
	// (3–7 % of a consumer's CPU in the profiles).
	for range cfg.Concurrency {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for msg := range c.work {
				c.handle(ctx, msg)
				c.free(1)
			}
		}()
	}
	defer close(c.work)
	for {
		err := c.run(ctx, cons)
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("consumer interrupted; restarting", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(restartWait):
		}
		if nc, err := b.setupConsumer(ctx, cfg); err != nil {
			log.Warn("consumer setup failed", "err", err)
		} else {
			cons = nc
		}
	}
}

func (b *Bus) setupConsumer(ctx context.Context, cfg ConsumerConfig) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if err := b.ensureStreamExists(ctx, cfg.Stream); err != nil {
		return nil, err
	}
	if err := b.EnsureDLQ(ctx); err != nil {
		return nil, err
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, StreamOf(cfg.Stream), jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		Description:   "souk events consumer",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		// Unlimited on the server: Consume counts attempts itself and
		// dead-letters, so no event is ever dropped by the server silently.
		MaxDeliver:    -1,
		FilterSubject: cfg.Subject,
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer %s on %s: %w", cfg.Durable, StreamOf(cfg.Stream), err)
	}
	return cons, nil
}

type consumer struct {
	bus  *Bus
	cfg  ConsumerConfig
	h    Handler
	log  *slog.Logger
	sem  chan struct{}
	work chan jetstream.Msg // to the handlers; one per slot, so a send waits at most for a handler to loop
	wg   sync.WaitGroup
	m    consumerMetrics
}

// run fetches as many messages as there are free handler slots and hands
// each to a handler goroutine, until ctx ends or a fetch fails. Fetching
// only for free slots keeps no message waiting in the client, where its
// AckWait would run while it is not being handled, and lets the other
// instances take what this one cannot handle now.
func (c *consumer) run(ctx context.Context, cons jetstream.Consumer) error {
	for {
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		n := 1
	more:
		for n < cap(c.sem) {
			select {
			case c.sem <- struct{}{}:
				n++
			default:
				break more
			}
		}
		// The pull request waits up to 30s for messages, with idle heartbeats
		// every 5s: a request lost with a broker restart is noticed in 10s.
		batch, err := cons.Fetch(n, jetstream.FetchContext(ctx))
		if err != nil {
			c.free(n)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			if ctx.Err() != nil {
				// Arrived during shutdown, not handled: give it back at once.
				_ = msg.Nak()
				c.free(1)
				continue
			}
			c.work <- msg
		}
		c.free(n - got)
		if err := batch.Error(); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, jetstream.ErrNoHeartbeat) {
				continue // the request was lost (a reconnect?); pull again
			}
			return err
		}
	}
}

// free gives back n handler slots.
func (c *consumer) free(n int) {
	for range n {
		<-c.sem
	}
}

// handle runs the handler on one message and settles it.
func (c *consumer) handle(ctx context.Context, msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		c.log.Error("event without metadata; terminating it", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		c.m.deadLetter.Inc()
		return
	}
	attempt := int(md.NumDelivered)
	var ev Event
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		c.deadLetter(ctx, msg, md, fmt.Sprintf("undecodable event: %v", err))
		return
	}
	if attempt > c.cfg.MaxDeliver {
		// Earlier attempts ended without a verdict: the process died or shut
		// down while handling it.
		c.deadLetter(ctx, msg, md, fmt.Sprintf("delivered %d times without success (max %d)", attempt, c.cfg.MaxDeliver))
		return
	}
	ev.Subject, ev.Delivery, ev.StreamSeq = msg.Subject(), attempt, md.Sequence.Stream
	ev.Headers = inHeaders(msg.Headers())

	stop := c.keepInProgress(msg)
	// The handler's context carries the request id of the request that
	// caused the event: the lines logged with it below (and by the
	// handler) tie the event to that request.
	hctx := handlerContext(ctx, msg.Headers())
	herr := c.call(hctx, ev)
	stop()

	switch {
	case ctx.Err() != nil:
		// Shutting down: whatever the handler returned, its work may be cut
		// short. Redeliver soon; the consumer's inbox makes a repeat
		// harmless. A plain Nak would make NATS 2.9 rewind the consumer and
		// forget this delivery, so a message that is in flight at every
		// restart would never reach the DLQ.
		_ = msg.NakWithDelay(shutdownRedelivery)
		c.m.shutdown.Inc()
	case herr == nil:
		c.m.handled(ev)
		if c.bus.opts.Faults.Enabled() {
			_ = c.bus.opts.Faults.Hit(c.cfg.Durable + ".after_handle")
		}
		if err := msg.Ack(); err != nil {
			c.log.WarnContext(hctx, "ack failed; the event will be redelivered", "event", ev.ID, "err", err)
		} else {
			c.log.DebugContext(hctx, "event handled", "event", ev.ID, "type", ev.Type, "attempt", attempt)
		}
	case IsPermanent(herr) || attempt >= c.cfg.MaxDeliver:
		c.log.ErrorContext(hctx, "event handler failed; dead-lettering", "event", ev.ID, "type", ev.Type, "attempt", attempt, "err", herr)
		c.deadLetter(ctx, msg, md, herr.Error())
	default:
		c.log.WarnContext(hctx, "event handler failed; will retry", "event", ev.ID, "type", ev.Type, "attempt", attempt, "err", herr)
		_ = msg.NakWithDelay(c.cfg.backoff(attempt))
		c.m.retry.Inc()
	}
}

// call runs the handler, turning a panic into an error so one bad event
// cannot crash-loop the service.
func (c *consumer) call(ctx context.Context, ev Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("event handler panicked", "event", ev.ID, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return c.h(ctx, ev)
}

// keepInProgress tells the server every AckWait/2 that the message is still
// being handled, so a slow handler's event is not redelivered to another
// instance meanwhile. The returned func stops it.
func (c *consumer) keepInProgress(msg jetstream.Msg) (stop func()) {
	every := c.cfg.AckWait / 2
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(every, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		_ = msg.InProgress()
		t.Reset(every)
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}

// deadLetter stores the message in the DLQ, then terminates it. When the
// DLQ cannot be written the message is redelivered later instead.
func (c *consumer) deadLetter(ctx context.Context, msg jetstream.Msg, md *jetstream.MsgMetadata, reason string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dlqPublishWait)
	defer cancel()
	err := c.bus.publishDeadLetter(dctx, deadLetterWire{
		Consumer:  c.cfg.Durable,
		Stream:    md.Stream,
		StreamSeq: md.Sequence.Stream,
		Subject:   msg.Subject(),
		Error:     reason,
		Attempts:  int(md.NumDelivered),
		Failed:    time.Now().UTC(),
		Headers:   msg.Headers(),
		Body:      msg.Data(),
	})
	if err != nil {
		c.log.Error("dead-lettering failed; will retry", "subject", msg.Subject(), "seq", md.Sequence.Stream, "err", err)
		_ = msg.NakWithDelay(c.cfg.backoff(int(md.NumDelivered)))
		c.m.retry.Inc()
		return
	}
	c.m.deadLetter.Inc()
	if err := msg.Term(); err != nil {
		// Redelivered later, then dead-lettered again: the DLQ drops the
		// duplicate by message id within two minutes.
		c.log.Warn("terminate after dead-lettering failed", "seq", md.Sequence.Stream, "err", err)
	}
}
