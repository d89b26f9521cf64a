package broker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	reconnectWait   = 250 * time.Millisecond
	reconnectJitter = 250 * time.Millisecond
	reconnectBuf    = 8 << 20
	dialTimeout     = 2 * time.Second
	firstRetryWait  = 200 * time.Millisecond
)

// Connect connects to the NATS server at url under the client name name and
// returns the connection and its JetStream handle. Until the first connect
// succeeds it retries every 200ms; it returns the last error when ctx ends
// first, so callers should give ctx a deadline. After that the connection
// reconnects forever on its own. The caller closes the connection (Drain or
// Close) when done.
func Connect(ctx context.Context, url, name string, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("nats", name)
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.ReconnectJitter(reconnectJitter, reconnectJitter),
		nats.ReconnectBufSize(reconnectBuf),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
				return
			}
			if !nc.IsClosed() {
				log.Warn("nats disconnected")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Warn("nats async error", "subject", subj, "err", err)
		}),
	}
	var lastErr error
	for {
		timeout := dialTimeout
		if dl, ok := ctx.Deadline(); ok {
			if left := time.Until(dl); left < timeout {
				timeout = max(left, 10*time.Millisecond)
			}
		}
		nc, err := nats.Connect(url, append(opts, nats.Timeout(timeout))...)
		if err == nil {
			js, err := jetstream.New(nc)
			if err != nil {
				nc.Close()
				return nil, nil, fmt.Errorf("connect nats %s: jetstream: %w", url, err)
			}
			return nc, js, nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("connect nats %s: %w (%w)", url, lastErr, ctx.Err())
		case <-time.After(firstRetryWait):
		}
	}
}
