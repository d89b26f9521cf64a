package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/telemetry"
)

// Options configures Wrap.
type Options struct {
	Log *slog.Logger
	// AccessLevel is the level of the one-line-per-request access log.
	// Internal services log at Debug so the gateway's line is the one that
	// counts; a level below the logger's turns it off at no cost.
	AccessLevel slog.Level
	// Metrics, when set, receives souk_http_requests_total and
	// souk_http_request_duration_seconds by route pattern and status.
	Metrics prometheus.Registerer
}

// Wrap returns h inside the middleware every service runs, outermost first:
// request id (adopted from X-Request-Id when valid, else new; echoed in the
// response), W3C trace context extraction, panic recovery (a 500 problem,
// logged with the stack), security headers, metrics and the access log.
func Wrap(h http.Handler, opts Options) http.Handler {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var m *httpMetrics
	if opts.Metrics != nil {
		m = newHTTPMetrics(opts.Metrics)
	}
	prop := propagation.TraceContext{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(telemetry.HeaderRequestID)
		if !telemetry.ValidRequestID(id) {
			id = telemetry.NewRequestID()
		}
		ctx := telemetry.WithRequestID(r.Context(), id)
		if r.Header.Get("Traceparent") != "" {
			ctx = prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
		}
		route := new(string)
		ctx = context.WithValue(ctx, routeKey{}, route)
		r = r.WithContext(ctx)
		hdr := w.Header()
		hdr.Set(telemetry.HeaderRequestID, id)
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("X-Frame-Options", "DENY")
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("Cache-Control", "no-store")
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(ctx, "panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if !sw.wrote {
					Error(sw, r, nil, fault.New(fault.Internal, "", ""))
				}
			}
			elapsed := time.Since(start)
			pattern := *route
			if pattern == "" {
				pattern = r.Pattern
			}
			if pattern == "" {
				pattern = "unmatched"
			}
			if m != nil {
				m.observe(pattern, sw.status, elapsed)
			}
			if log.Enabled(ctx, opts.AccessLevel) {
				log.LogAttrs(ctx, opts.AccessLevel, "request",
					slog.String("method", r.Method),
					slog.String("route", pattern),
					slog.String("path", r.URL.Path),
					slog.Int("status", sw.status),
					slog.Float64("ms", float64(elapsed.Microseconds())/1000),
				)
			}
		}()
		h.ServeHTTP(sw, r)
		if !sw.wrote {
			sw.status = http.StatusOK
		}
	})
}

type routeKey struct{}

// Routes wraps a ServeMux nested inside Wrap (behind other middleware) so
// that Wrap's metrics and access log name the pattern the inner mux
// matched, not the outer one's catch-all.
//
// It also turns the mux's own plain-text "404 page not found" and "405
// method not allowed" into problem+json, so that every error a service
// answers has a code.
func Routes(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(&unmatchedWriter{ResponseWriter: w, r: r}, r)
		if p, ok := r.Context().Value(routeKey{}).(*string); ok && r.Pattern != "" {
			*p = r.Pattern
		}
	})
}

// unmatchedWriter replaces the plain-text error a ServeMux writes when no
// pattern matched (r.Pattern is then empty) with a problem.
type unmatchedWriter struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool
}

func (w *unmatchedWriter) WriteHeader(code int) {
	if w.r.Pattern != "" || (code != http.StatusNotFound && code != http.StatusMethodNotAllowed) ||
		!strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replaced = true
	w.Header().Del("Content-Length")
	var p fault.Problem
	if code == http.StatusNotFound {
		p = fault.ToProblem(fault.New(fault.NotFound, "", "no such route"))
	} else {
		p = fault.ToProblem(fault.New(fault.Invalid, "method_not_allowed", "this method is not allowed on this path"))
		p.Status, p.Title = http.StatusMethodNotAllowed, "Method not allowed"
	}
	p.RequestID = telemetry.RequestID(w.r.Context())
	p.Instance = w.r.URL.Path
	WriteProblem(w.ResponseWriter, p)
}

func (w *unmatchedWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil // the mux's plain text, already replaced
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *unmatchedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "souk_http_requests_total", Help: "HTTP requests served, by route pattern and status.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "souk_http_request_duration_seconds", Help: "Time to serve HTTP requests, by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (m *httpMetrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}
