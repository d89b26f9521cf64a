package gateway

import (
	"io"
	"maps"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// accessLog writes one JSON line per request. A line is built on the
// request's own stack, then appended to a buffer under a mutex (held only
// for the copy) and written out by a flusher every 100 ms (or when the
// buffer passes 64 KiB), so a request never waits for the terminal or the
// launcher's pipe. A crash loses at most the last 100 ms of lines.
type accessLog struct {
	mu       sync.Mutex
	buf      []byte
	out      io.Writer
	service  string
	instance string

	flushMu sync.Mutex // one flush at a time; guards spare
	spare   []byte     // the buffer last written out, reused
}

func newAccessLog(out io.Writer, service, instance string) *accessLog {
	return &accessLog{out: out, service: service, instance: instance, buf: make([]byte, 0, 80<<10)}
}

func (l *accessLog) log(now time.Time, method []byte, route string, path []byte, status int, elapsed time.Duration, user, requestID, upstream string, ip netip.Addr) {
	var scratch [512]byte
	b := append(scratch[:0], `{"time":"`...)
	b = now.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","service":"`...)
	b = append(b, l.service...)
	b = append(b, `","instance":"`...)
	b = append(b, l.instance...)
	b = append(b, `","method":`...)
	b = appendJSONString(b, method)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, []byte(route))
	b = append(b, `,"path":`...)
	b = appendJSONString(b, path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"ms":`...)
	b = strconv.AppendFloat(b, float64(elapsed.Microseconds())/1000, 'f', 3, 64)
	b = append(b, `,"user":"`...)
	b = append(b, user...) // a uuid from a verified token
	b = append(b, `","request_id":"`...)
	b = append(b, requestID...) // validated: [A-Za-z0-9._-]
	b = append(b, `","upstream":`...)
	b = appendJSONString(b, []byte(upstream))
	b = append(b, `,"client_ip":"`...)
	b = ip.AppendTo(b)
	b = append(b, "\"}\n"...)

	l.mu.Lock()
	l.buf = append(l.buf, b...)
	full := len(l.buf) > 64<<10
	l.mu.Unlock()
	if full {
		l.flush()
	}
}

// appendJSONString appends s as a JSON string, escaping what JSON requires
// and anything that could forge a log line. Bytes that are not UTF-8 are
// written as \ufffd, as encoding/json does, so every line is valid UTF-8.
func appendJSONString(b, s []byte) []byte {
	b = append(b, '"')
	// Most of what is logged (methods, routes, paths, instance ids) is
	// plain ASCII: copy it whole.
	plain := 0
	for plain < len(s) && s[plain] >= 0x20 && s[plain] < 0x7f && s[plain] != '"' && s[plain] != '\\' {
		plain++
	}
	b = append(b, s[:plain]...)
	if plain == len(s) {
		return append(b, '"')
	}
	const hex = "0123456789abcdef"
	for i := plain; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c == 0x7f:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}

// flush writes the buffered lines out.
func (l *accessLog) flush() {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	if len(l.buf) == 0 {
		l.mu.Unlock()
		return
	}
	// Swap buffers rather than copy: at 20,000 requests a second the
	// buffer fills every 10 ms.
	data := l.buf
	l.buf = l.spare[:0]
	l.mu.Unlock()
	_, _ = l.out.Write(data)
	l.spare = data[:0]
}

// run flushes every 100 ms until stop is closed, then once more.
func (l *accessLog) run(stop <-chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			l.flush()
			return
		case <-t.C:
			l.flush()
		}
	}
}

// metrics are the gateway's Prometheus series. Each request's series are
// looked up once per route and status and kept: WithLabelValues hashes the
// labels and takes the vector's lock on every call.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	routes   sync.Map // route name → *routeSeries
}

// routeSeries are one route's series: its histogram, and a counter per
// status seen so far (a copy-on-write map: statuses are few and settle).
type routeSeries struct {
	duration prometheus.Observer
	mu       sync.Mutex // serialises writers of statuses
	statuses atomic.Pointer[map[int]prometheus.Counter]
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "souk_gateway_requests_total", Help: "Requests through the gateway, by route and status.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "souk_gateway_request_duration_seconds", Help: "Time to answer requests at the gateway, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	s := m.route(route)
	s.duration.Observe(d.Seconds())
	s.counter(m.requests, route, status).Inc()
}

func (m *metrics) route(name string) *routeSeries {
	if s, ok := m.routes.Load(name); ok {
		return s.(*routeSeries)
	}
	s, _ := m.routes.LoadOrStore(name, &routeSeries{duration: m.duration.WithLabelValues(name)})
	return s.(*routeSeries)
}

func (s *routeSeries) counter(vec *prometheus.CounterVec, route string, status int) prometheus.Counter {
	if p := s.statuses.Load(); p != nil {
		if c, ok := (*p)[status]; ok {
			return c
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := map[int]prometheus.Counter{}
	if p := s.statuses.Load(); p != nil {
		maps.Copy(next, *p)
	}
	c, ok := next[status]
	if !ok {
		c = vec.WithLabelValues(route, strconv.Itoa(status))
		next[status] = c
		s.statuses.Store(&next)
	}
	return c
}
