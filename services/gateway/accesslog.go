package gateway

import (
	"bytes"
	"io"
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// accessLog writes one JSON line per request. Lines are appended to a
// buffer under a mutex and written out by a flusher every 100 ms (or when
// the buffer passes 64 KiB), so a request never waits for the terminal or
// the launcher's pipe. A crash loses at most the last 100 ms of lines.
type accessLog struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	out      io.Writer
	service  string
	instance string
}

func newAccessLog(out io.Writer, service, instance string) *accessLog {
	return &accessLog{out: out, service: service, instance: instance}
}

func (l *accessLog) log(method []byte, route string, path []byte, status int, elapsed time.Duration, user, requestID, upstream string, ip netip.Addr) {
	var scratch [32]byte
	l.mu.Lock()
	b := &l.buf
	b.WriteString(`{"time":"`)
	b.Write(time.Now().UTC().AppendFormat(scratch[:0], time.RFC3339Nano))
	b.WriteString(`","level":"INFO","msg":"request","service":"`)
	b.WriteString(l.service)
	b.WriteString(`","instance":"`)
	b.WriteString(l.instance)
	b.WriteString(`","method":`)
	writeJSONString(b, method)
	b.WriteString(`,"route":`)
	writeJSONString(b, []byte(route))
	b.WriteString(`,"path":`)
	writeJSONString(b, path)
	b.WriteString(`,"status":`)
	b.Write(strconv.AppendInt(scratch[:0], int64(status), 10))
	b.WriteString(`,"ms":`)
	b.Write(strconv.AppendFloat(scratch[:0], float64(elapsed.Microseconds())/1000, 'f', 3, 64))
	b.WriteString(`,"user":"`)
	b.WriteString(user) // a uuid from a verified token
	b.WriteString(`","request_id":"`)
	b.WriteString(requestID) // validated: [A-Za-z0-9._-]
	b.WriteString(`","upstream":`)
	writeJSONString(b, []byte(upstream))
	b.WriteString(`,"client_ip":"`)
	b.Write(ip.AppendTo(scratch[:0]))
	b.WriteString("\"}\n")
	full := b.Len() > 64<<10
	l.mu.Unlock()
	if full {
		l.flush()
	}
}

// writeJSONString writes s as a JSON string, escaping what JSON requires
// and anything that could forge a log line. Bytes that are not UTF-8 are
// written as \ufffd, as encoding/json does, so every line is valid UTF-8.
func writeJSONString(b *bytes.Buffer, s []byte) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				b.WriteString(`\ufffd`)
			} else {
				b.Write(s[i : i+size])
			}
			i += size
			continue
		default:
			b.WriteByte(c)
		}
		i++
	}
	b.WriteByte('"')
}

// flush writes the buffered lines out.
func (l *accessLog) flush() {
	l.mu.Lock()
	if l.buf.Len() == 0 {
		l.mu.Unlock()
		return
	}
	data := bytes.Clone(l.buf.Bytes())
	l.buf.Reset()
	l.mu.Unlock()
	_, _ = l.out.Write(data)
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

// metrics are the gateway's Prometheus series.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
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
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}
