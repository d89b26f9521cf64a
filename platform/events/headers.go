package events

import (
	"context"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/souk/souk/platform/telemetry"
	"go.opentelemetry.io/otel/propagation"
)

// traceContext propagates W3C trace context (traceparent, tracestate).
var traceContext propagation.TraceContext

// headerCarrier adapts NATS headers to the OpenTelemetry propagators. Keys
// are kept as given (lowercase "traceparent"), as other NATS clients expect.
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string {
	if v := nats.Header(c).Get(key); v != "" {
		return v
	}
	for k, v := range c { // tolerate a canonicalized "Traceparent"
		if strings.EqualFold(k, key) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func (c headerCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// outHeaders returns the NATS headers of ev: its Headers, the request id and
// trace context of ctx, and its id as the JetStream dedupe id.
func outHeaders(ctx context.Context, ev Event, msgID string) nats.Header {
	h := make(nats.Header, len(ev.Headers)+3)
	for k, v := range ev.Headers {
		h.Set(k, v)
	}
	if id := telemetry.RequestID(ctx); id != "" {
		h.Set(telemetry.HeaderRequestID, id)
	}
	traceContext.Inject(ctx, headerCarrier(h))
	h.Set(nats.MsgIdHdr, msgID)
	return h
}

// inHeaders returns the application headers of a delivered message: all but
// the ones NATS uses itself.
func inHeaders(h nats.Header) map[string]string {
	if len(h) == 0 {
		return nil
	}
	m := make(map[string]string, len(h))
	for k, v := range h {
		if len(v) == 0 || strings.HasPrefix(k, "Nats-") {
			continue
		}
		m[k] = v[0]
	}
	return m
}

// handlerContext returns ctx with the request id and the remote trace
// context carried by h.
func handlerContext(ctx context.Context, h nats.Header) context.Context {
	if id := h.Get(telemetry.HeaderRequestID); telemetry.ValidRequestID(id) {
		ctx = telemetry.WithRequestID(ctx, id)
	}
	return traceContext.Extract(ctx, headerCarrier(h))
}
