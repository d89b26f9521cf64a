package load

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustMix(t testing.TB, s string) Mix {
	t.Helper()
	m, err := ParseMix(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLatencyFromIntendedTime stalls the server for 300 ms once while the
// client has a single connection, so the requests due during the stall
// queue in the client. Timed from their send time (or by a closed-loop
// tool, which would not even send them) they would look fast; timed from
// their intended time they show the stall.
func TestLatencyFromIntendedTime(t *testing.T) {
	var once sync.Once
	var stallStart time.Time
	var mu sync.Mutex
	g := &fakeGateway{before: func(r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/v1/products/") {
			return
		}
		mu.Lock()
		once.Do(func() { stallStart = time.Now().Add(500 * time.Millisecond) })
		s := stallStart
		mu.Unlock()
		if now := time.Now(); !now.Before(s) && now.Before(s.Add(300*time.Millisecond)) {
			time.Sleep(s.Add(300 * time.Millisecond).Sub(now))
		}
	}}
	url := startFake(t, g)
	rep, err := Run(context.Background(), Config{Gateway: url, Rate: 200, Duration: 2 * time.Second, Mix: mustMix(t, "product=100"), MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	st := rep.Steps["product"]
	if st.Requests != 400 || st.Errors != 0 {
		t.Fatalf("got %d requests, %d errors; want 400, 0: %+v", st.Requests, st.Errors, rep.ErrorsBy)
	}
	// About 60 requests were due during the stall, 20 of them in its first
	// 100 ms: they waited 200 to 300 ms, so 5% of all are above 200 ms.
	if st.Latency.Max < 290 || st.Latency.P99 < 250 {
		t.Errorf("got max %.1f ms, p99 %.1f ms; want max >= 290 and p99 >= 250 after a 300 ms stall", st.Latency.Max, st.Latency.P99)
	}
	if st.Latency.P50 > 50 {
		t.Errorf("got p50 %.1f ms, want the typical request fast", st.Latency.P50)
	}
	slowSecond := false
	for _, s := range rep.Seconds {
		if s.Max >= 290 {
			slowSecond = true
		}
	}
	if !slowSecond {
		t.Errorf("no second in the series shows the stall: %+v", rep.Seconds)
	}
}

// lateClock is the wall clock, except that the scheduler oversleeps once:
// every arrival due from 500 to 800 ms after the first sleep is dispatched
// at 800 ms, as when the generator itself is starved of CPU.
type lateClock struct {
	realClock
	from, until time.Time
}

func (c *lateClock) SleepUntil(ctx context.Context, t time.Time) error {
	if c.from.IsZero() {
		c.from, c.until = t.Add(500*time.Millisecond), t.Add(800*time.Millisecond)
	}
	if !t.Before(c.from) && t.Before(c.until) {
		t = c.until
	}
	return c.realClock.SleepUntil(ctx, t)
}

// TestLatencyIncludesSchedulerLag: arrivals dispatched 300 ms late count
// those 300 ms, so a starved generator cannot flatter the system.
func TestLatencyIncludesSchedulerLag(t *testing.T) {
	url := startFake(t, &fakeGateway{})
	rep, err := Run(context.Background(), Config{Gateway: url, Rate: 200, Duration: 2 * time.Second, Mix: mustMix(t, "product=100"), Clock: &lateClock{}})
	if err != nil {
		t.Fatal(err)
	}
	st := rep.Steps["product"]
	if st.Requests != 400 || st.Errors != 0 {
		t.Fatalf("got %d requests, %d errors; want 400, 0", st.Requests, st.Errors)
	}
	if st.Latency.Max < 280 || st.Latency.P99 < 230 {
		t.Errorf("got max %.1f ms, p99 %.1f ms; want max >= 280 and p99 >= 230 after the scheduler was 300 ms late", st.Latency.Max, st.Latency.P99)
	}
}

// TestOrdersOut answers orders by their sequence number with each outcome
// an order can have, and checks the lines an auditor gets.
func TestOrdersOut(t *testing.T) {
	g := &fakeGateway{order: func(w http.ResponseWriter, r *http.Request, seq int) {
		switch seq % 6 {
		case 0:
			writeJSON(w, http.StatusCreated, map[string]any{"id": "ord-" + r.Header.Get("Idempotency-Key"), "status": "CONFIRMED"})
		case 1:
			writeJSON(w, http.StatusAccepted, map[string]any{"id": "ord-" + r.Header.Get("Idempotency-Key"), "status": "PENDING"})
		case 2:
			problem(w, http.StatusConflict, "out_of_stock")
		case 3:
			problem(w, http.StatusServiceUnavailable, "unavailable")
		case 4:
			time.Sleep(700 * time.Millisecond) // beyond the client's timeout
			writeJSON(w, http.StatusCreated, map[string]any{"id": "late", "status": "CONFIRMED"})
		case 5:
			hangUp(w)
		}
	}}
	url := startFake(t, g)
	var out bytes.Buffer
	rep, err := Run(context.Background(), Config{
		Gateway: url, Rate: 60, Duration: 100 * time.Millisecond, Mix: mustMix(t, "order=100"), Users: 2,
		Timeout: 300 * time.Millisecond, OrdersOut: &out, Restock: true, AdminEmail: "admin@example.com", AdminPassword: "admin-pw",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := g.restocked.Load(); got != 30 {
		t.Errorf("restocked %d products, want 30", got)
	}
	want := Orders{Accepted: 2, Confirmed: 1, Pending: 1, Rejected: 1, Ambiguous: 3}
	if diff := cmp.Diff(want, rep.Orders); diff != "" {
		t.Errorf("orders (-want +got):\n%s", diff)
	}
	type line struct {
		ID             *string    `json:"id"`
		Status         *string    `json:"status"`
		IdempotencyKey string     `json:"idempotency_key"`
		At             *time.Time `json:"at"`
		Error          *string    `json:"error"`
	}
	bySeq := map[string]line{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var l line
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		i := strings.LastIndexByte(l.IdempotencyKey, '-')
		bySeq[l.IdempotencyKey[i+1:]] = l
	}
	if len(bySeq) != 5 {
		t.Fatalf("got %d lines, want 5 (no line for the 409):\n%s", len(bySeq), out.String())
	}
	for seq, wantStatus := range map[string]string{"0": "CONFIRMED", "1": "PENDING"} {
		l := bySeq[seq]
		if l.ID == nil || *l.ID != "ord-"+l.IdempotencyKey || l.Status == nil || *l.Status != wantStatus || l.At == nil || l.At.IsZero() || l.Error != nil {
			t.Errorf("order %s: got %+v, want an accepted line with status %s", seq, l, wantStatus)
		}
	}
	for seq, wantErr := range map[string]string{"3": "503 unavailable", "4": ErrTimeout, "5": ErrConnection} {
		l := bySeq[seq]
		if l.Error == nil || *l.Error != wantErr || l.ID != nil {
			t.Errorf("order %s: got %+v, want an ambiguous line with error %q", seq, l, wantErr)
		}
	}
	if _, ok := bySeq["2"]; ok {
		t.Errorf("a line for the rejected order: %+v", bySeq["2"])
	}
	wantErrs := map[string]int64{"409 out_of_stock": 1, "503 unavailable": 1, ErrTimeout: 1, ErrConnection: 1}
	if diff := cmp.Diff(wantErrs, rep.ErrorsBy); diff != "" {
		t.Errorf("errors_by (-want +got):\n%s", diff)
	}
}

// TestInterruptWritesInflightOrders cancels a run while an order hangs:
// the run stops, the report is marked interrupted, and the hanging order
// is written as ambiguous.
func TestInterruptWritesInflightOrders(t *testing.T) {
	release := make(chan struct{})
	g := &fakeGateway{order: func(w http.ResponseWriter, r *http.Request, seq int) {
		if seq == 0 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		writeJSON(w, http.StatusCreated, map[string]any{"id": "ord-" + r.Header.Get("Idempotency-Key"), "status": "CONFIRMED"})
	}}
	url := startFake(t, g)
	t.Cleanup(func() { close(release) }) // before the server's Close, which waits for handlers
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	var out bytes.Buffer
	began := time.Now()
	rep, err := Run(ctx, Config{Gateway: url, Rate: 20, Duration: time.Minute, Mix: mustMix(t, "order=100"), Users: 1,
		DrainTimeout: 200 * time.Millisecond, OrdersOut: &out})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Run took %v after a cancel at 300ms", took)
	}
	if !rep.Interrupted || rep.Arrivals > 20 {
		t.Errorf("got interrupted %v after %d arrivals, want true after about 6", rep.Interrupted, rep.Arrivals)
	}
	if !strings.Contains(out.String(), `-0","error":"`+ErrAbandoned+`"}`) {
		t.Errorf("no ambiguous line for the hanging order 0:\n%s", out.String())
	}
	if rep.ErrorsBy[ErrAbandoned] != 1 || rep.Orders.Ambiguous != 1 || rep.Orders.Accepted != rep.Arrivals-1 {
		t.Errorf("got errors %v, orders %+v after %d arrivals; want 1 abandoned, the rest accepted", rep.ErrorsBy, rep.Orders, rep.Arrivals)
	}
}

// TestJSONShape runs the default mix and decodes the JSON report into a
// struct that requires every documented field.
func TestJSONShape(t *testing.T) {
	g := &fakeGateway{}
	url := startFake(t, g)
	rep, err := Run(context.Background(), Config{Gateway: url, Rate: 100, Duration: 1500 * time.Millisecond, Users: 4,
		Restock: true, AdminEmail: "admin@example.com", AdminPassword: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	type latency struct{ P50, P90, P99, P999, Max *float64 }
	var doc struct {
		Requests      *int64   `json:"requests"`
		Errors        *int64   `json:"errors"`
		ThroughputRPS *float64 `json:"throughput_rps"`
		DurationS     *float64 `json:"duration_s"`
		Rate          *float64 `json:"rate"`
		Latency       *latency `json:"latency_ms"`
		Steps         map[string]struct {
			Requests *int64   `json:"requests"`
			Errors   *int64   `json:"errors"`
			Latency  *latency `json:"latency_ms"`
		} `json:"steps"`
		ErrorsBy map[string]int64 `json:"errors_by"`
		Orders   *struct {
			Accepted, Confirmed, Pending, Rejected *int64
		} `json:"orders"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	_ = json.Unmarshal(raw, &top)
	for _, k := range []string{"requests", "errors", "throughput_rps", "duration_s", "rate", "latency_ms", "steps", "errors_by", "orders"} {
		if _, ok := top[k]; !ok {
			t.Errorf("no %q in %s", k, raw)
		}
	}
	lat := func(where string, l *latency) {
		if l == nil || l.P50 == nil || l.P90 == nil || l.P99 == nil || l.P999 == nil || l.Max == nil {
			t.Errorf("%s: latency_ms lacks a field: %s", where, raw)
			return
		}
		if !(*l.P50 > 0 && *l.P50 <= *l.P90 && *l.P90 <= *l.P99 && *l.P99 <= *l.P999 && *l.P999 <= *l.Max) {
			t.Errorf("%s: percentiles out of order: %+v", where, *l)
		}
	}
	if doc.Requests == nil || doc.Errors == nil || doc.ThroughputRPS == nil || doc.DurationS == nil || doc.Rate == nil || doc.Orders == nil ||
		doc.Orders.Accepted == nil || doc.Orders.Confirmed == nil || doc.Orders.Pending == nil || doc.Orders.Rejected == nil || doc.ErrorsBy == nil {
		t.Fatalf("a documented field is missing: %s", raw)
	}
	lat("total", doc.Latency)
	var sum int64
	for _, name := range []string{"browse", "product", "search", "order", "login", "signup"} {
		st, ok := doc.Steps[name]
		if !ok {
			t.Errorf("no step %q in %s", name, raw)
			continue
		}
		if st.Requests == nil || st.Errors == nil {
			t.Errorf("step %s lacks requests or errors", name)
			continue
		}
		lat(name, st.Latency)
	}
	for _, st := range doc.Steps {
		sum += *st.Requests
	}
	if *doc.Requests != sum || *doc.Requests < 150 || *doc.Errors != 0 || len(doc.ErrorsBy) != 0 {
		t.Errorf("got %d requests (steps sum to %d), %d errors %v; want at least 150 and no error", *doc.Requests, sum, *doc.Errors, doc.ErrorsBy)
	}
	// The duration runs to the last answer, which a busy machine delays.
	if *doc.Rate != 100 || *doc.DurationS < 1.49 || *doc.DurationS > 15 || math.Abs(*doc.ThroughputRPS-float64(rep.Completed)/(*doc.DurationS)) > 1e-6 {
		t.Errorf("got rate %v, duration %v s, throughput %v for %d completed; want 100, 1.5 s or a little more, completed/duration",
			*doc.Rate, *doc.DurationS, *doc.ThroughputRPS, rep.Completed)
	}
	if *doc.Orders.Accepted != *doc.Orders.Confirmed+*doc.Orders.Pending || *doc.Orders.Accepted != *doc.Steps["order"].Requests {
		t.Errorf("orders %+v do not add up with %d order requests", *doc.Orders, *doc.Steps["order"].Requests)
	}
	if len(rep.Warnings) == 0 || !strings.Contains(rep.Warnings[0], "restock") {
		t.Errorf("a wrong admin password must warn about the restock, got warnings %q", rep.Warnings)
	}
	// Fake client addresses: users in 10.0.0.0/9-ish, anonymous in 10.255/16.
	for ip := range g.addresses("anon") {
		if !strings.HasPrefix(ip, "10.255.") {
			t.Errorf("anonymous request from %q, want 10.255.x.y", ip)
		}
	}
	users := g.addresses("user")
	if len(users) < 4 {
		t.Errorf("user requests came from %d addresses, want one per user (at least 4)", len(users))
	}
	for ip := range users {
		if net.ParseIP(ip) == nil || !strings.HasPrefix(ip, "10.") || strings.HasPrefix(ip, "10.255.") {
			t.Errorf("user request from %q, want a 10.x address outside 10.255/16", ip)
		}
	}
}

func TestSetupFails(t *testing.T) {
	// A closed port: nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Run(context.Background(), Config{Gateway: "http://" + addr, Rate: 10, Duration: time.Second, Users: 1}); err == nil {
		t.Error("Run against a closed port: got no error")
	}
	// Signups refused: no user can be created.
	refuse := startFake(t, &refusingSignups{})
	if _, err := Run(context.Background(), Config{Gateway: refuse, Rate: 10, Duration: time.Second, Users: 2, Mix: mustMix(t, "order=1")}); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Errorf("Run with signups refused: got %v, want a setup error about users", err)
	}
}

// refusingSignups is a gateway whose auth service is down.
type refusingSignups struct{ fakeGateway }

func (g *refusingSignups) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/v1/auth/") {
		problem(w, http.StatusServiceUnavailable, "unavailable")
		return
	}
	g.fakeGateway.ServeHTTP(w, r)
}
