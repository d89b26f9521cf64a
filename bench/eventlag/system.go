package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the driver the services use
)

// scrape fetches /metrics of every notification instance listed in
// dir/status.json (souk status --json) into dir/metrics.txt.
func scrape(ctx context.Context, dir string) error {
	var st struct {
		Services map[string]struct {
			Instances []struct {
				ID   string `json:"id"`
				Addr string `json:"addr"`
			} `json:"instances"`
		} `json:"services"`
	}
	if err := readJSON(filepath.Join(dir, "status.json"), &st); err != nil {
		return err
	}
	var b strings.Builder
	c := &http.Client{Timeout: 5 * time.Second}
	for _, in := range st.Services["notification"].Instances {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+in.Addr+"/metrics", nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("scrape %s: %w", in.ID, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("scrape %s: %w", in.ID, err)
		}
		fmt.Fprintf(&b, "# instance %s\n%s", in.ID, body)
	}
	return os.WriteFile(filepath.Join(dir, "metrics.txt"), []byte(b.String()), 0o644)
}

// LoadSummary is the part of `souk load --json` this benchmark reports.
type LoadSummary struct {
	Requests      int64            `json:"requests"`
	Errors        int64            `json:"errors"`
	Dropped       int64            `json:"dropped"`
	ThroughputRPS float64          `json:"throughput_rps"`
	Rate          float64          `json:"rate"`
	ErrorsBy      map[string]int64 `json:"errors_by"`
	Latency       struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
		Max float64 `json:"max"`
	} `json:"latency_ms"`
	Orders struct {
		Accepted  int64 `json:"accepted"`
		Confirmed int64 `json:"confirmed"`
		Pending   int64 `json:"pending"`
		Rejected  int64 `json:"rejected"`
		Ambiguous int64 `json:"ambiguous"`
	} `json:"orders"`
}

// SystemResult is one `souk up` run at one rate.
type SystemResult struct {
	Dir       string      `json:"dir"`
	Rate      float64     `json:"rate"`
	Sustained bool        `json:"sustained"` // no errors or drops, ≥ 95 % of the rate, nothing pending
	Load      LoadSummary `json:"load"`
	Placed    int         `json:"placed"`  // ORDER_PLACED events in the order service's event store
	Matched   int         `json:"matched"` // of those, with a confirmation email
	// LagMs is messages.created_at − order_events.created_at of ORDER_PLACED:
	// ORDER_PLACED stamped → email stamped, in ms.
	LagMs Quantiles `json:"lag_ms"`
	// There is no split into relay and delivery: order_events.published_at
	// is when the relay marked the row, which it does lazily (up to a poll
	// interval after the publish), not when the broker had the event.
	Histogram map[string]HistSum `json:"histogram"` // souk_event_lag_seconds per consumer, all instances
	Handled   map[string]float64 `json:"handled"`   // souk_events_handled_total, "consumer/outcome"
}

func runSystem(dir, rate string, stdout io.Writer) error {
	r, err := analyzeSystem(dir, rate)
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "result.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	writeSystem(stdout, r)
	return nil
}

func analyzeSystem(dir, rateArg string) (*SystemResult, error) {
	rate, err := strconv.ParseFloat(rateArg, 64)
	if err != nil {
		return nil, fmt.Errorf("rate %q: %w", rateArg, err)
	}
	r := &SystemResult{Dir: dir, Rate: rate}
	if err := readJSON(filepath.Join(dir, "load.json"), &r.Load); err != nil {
		return nil, err
	}
	l := r.Load
	r.Sustained = l.Errors == 0 && l.Dropped == 0 && l.Orders.Pending == 0 && l.ThroughputRPS >= 0.95*rate

	orders := map[string]int64{} // order id → ORDER_PLACED's created_at
	err = query(filepath.Join(dir, "data", "order", "order.db"),
		`SELECT order_id, created_at FROM order_events WHERE type = 'ORDER_PLACED'`,
		func(rows *sql.Rows) error {
			var id string
			var created int64
			if err := rows.Scan(&id, &created); err != nil {
				return err
			}
			orders[id] = created
			return nil
		})
	if err != nil {
		return nil, err
	}
	r.Placed = len(orders)
	var lag []float64
	err = query(filepath.Join(dir, "data", "notification", "notification.db"),
		`SELECT order_id, created_at FROM messages WHERE kind = 'order_confirmation'`,
		func(rows *sql.Rows) error {
			var id string
			var at int64
			if err := rows.Scan(&id, &at); err != nil {
				return err
			}
			created, ok := orders[id]
			if !ok {
				return nil
			}
			lag = append(lag, float64(at-created))
			return nil
		})
	if err != nil {
		return nil, err
	}
	r.Matched = len(lag)
	r.LagMs = quantiles(lag)
	r.Histogram, r.Handled, err = parseMetrics(filepath.Join(dir, "metrics.txt"))
	if err != nil {
		return nil, err
	}
	return r, nil
}

// query runs q on the SQLite file at path, read-only, calling scan per row.
// The services have stopped, so their WAL is checkpointed.
func query(path, q string, scan func(*sql.Rows) error) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.Query(q)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return rows.Err()
}

// parseMetrics sums souk_event_lag_seconds and souk_events_handled_total
// over the instances in a metrics.txt; a missing file gives empty maps.
func parseMetrics(path string) (map[string]HistSum, map[string]float64, error) {
	hists, handled := map[string]HistSum{}, map[string]float64{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return hists, handled, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	buckets := map[string]map[float64]float64{} // consumer → le → cumulative count
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, labels, value, ok := parseSample(line)
		if !ok {
			continue
		}
		switch name {
		case "souk_event_lag_seconds_bucket":
			le, err := strconv.ParseFloat(labels["le"], 64)
			if err != nil {
				le = math.Inf(1) // "+Inf"
			}
			c := labels["consumer"]
			if buckets[c] == nil {
				buckets[c] = map[float64]float64{}
			}
			buckets[c][le] += value
		case "souk_events_handled_total":
			handled[labels["consumer"]+"/"+labels["outcome"]] += value
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	for c, bs := range buckets {
		var ub []float64
		for le := range bs {
			if !math.IsInf(le, 1) {
				ub = append(ub, le)
			}
		}
		sort.Float64s(ub)
		cum := make([]uint64, len(ub))
		for i, u := range ub {
			cum[i] = uint64(bs[u])
		}
		hists[c] = summarize(uint64(bs[math.Inf(1)]), ub, cum)
	}
	return hists, handled, nil
}

// parseSample parses one line of the Prometheus text format:
// name{k="v",...} value.
func parseSample(line string) (name string, labels map[string]string, value float64, ok bool) {
	if line == "" || line[0] == '#' {
		return "", nil, 0, false
	}
	sp := strings.LastIndexByte(line, ' ')
	if sp < 0 {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(line[sp+1:], 64)
	if err != nil {
		return "", nil, 0, false
	}
	head := line[:sp]
	labels = map[string]string{}
	if i := strings.IndexByte(head, '{'); i >= 0 {
		name = head[:i]
		for _, kv := range strings.Split(strings.TrimSuffix(head[i+1:], "}"), ",") {
			k, val, found := strings.Cut(kv, "=")
			if found {
				labels[k] = strings.Trim(val, `"`)
			}
		}
	} else {
		name = head
	}
	return name, labels, v, true
}

func writeSystem(w io.Writer, r *SystemResult) {
	l := r.Load
	fmt.Fprintf(w, "system rate=%g/s: throughput %.1f/s, errors %d, dropped %d, pending %d, checkout p50 %.0f ms p99 %.0f ms — sustained: %v\n",
		r.Rate, l.ThroughputRPS, l.Errors, l.Dropped, l.Orders.Pending, l.Latency.P50, l.Latency.P99, r.Sustained)
	fmt.Fprintf(w, "  ORDER_PLACED %d, with email %d\n", r.Placed, r.Matched)
	fmt.Fprintf(w, "  %-34s %8s %8s %8s %8s %8s\n", "(ms)", "p50", "p90", "p99", "p99.9", "max")
	for _, row := range []struct {
		name string
		q    Quantiles
	}{{"lag: placed → email (DB, ms)", r.LagMs}} {
		fmt.Fprintf(w, "  %-34s %8.0f %8.0f %8.0f %8.0f %8.0f\n", row.name, row.q.P50, row.q.P90, row.q.P99, row.q.P999, row.q.Max)
	}
	names := make([]string, 0, len(r.Histogram))
	for c := range r.Histogram {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		h := r.Histogram[c]
		if h.Count == 0 {
			continue
		}
		fmt.Fprintf(w, "  histogram %-28s n=%d p50≈%.1fms p99≈%.1fms ≤50ms %.1f%%\n", c, h.Count, h.P50Ms, h.P99Ms, h.Le50Pct)
	}
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// summary prints min/median/max over the rounds in out and writes
// out/summary.json.
func summary(out string, w io.Writer) error {
	type spread struct {
		Min, Median, Max float64
	}
	spreadOf := func(xs []float64) spread {
		if len(xs) == 0 {
			return spread{}
		}
		sort.Float64s(xs)
		return spread{xs[0], xs[len(xs)/2], xs[len(xs)-1]}
	}
	res := map[string]any{}
	iso, _ := filepath.Glob(filepath.Join(out, "isolated-*-r*.json"))
	byMode := map[string][]*IsolatedReport{}
	for _, p := range iso {
		var r IsolatedReport
		if err := readJSON(p, &r); err != nil {
			return err
		}
		key := fmt.Sprintf("%s@%g", r.Config.Mode, r.Config.Rate)
		byMode[key] = append(byMode[key], &r)
	}
	fmt.Fprintf(w, "\nEvent lag summary (%s): min / median / max over rounds, ms\n", out)
	line := func(name string, n int, p50, p90, p99, max []float64, extra string) spread {
		s50, s90, s99, smax := spreadOf(p50), spreadOf(p90), spreadOf(p99), spreadOf(max)
		fmt.Fprintf(w, "  %-34s %2d  p50 %6.1f/%6.1f/%6.1f  p90 %6.1f/%6.1f/%6.1f  p99 %6.1f/%6.1f/%6.1f  max %6.0f/%6.0f/%6.0f %s\n",
			name, n, s50.Min, s50.Median, s50.Max, s90.Min, s90.Median, s90.Max, s99.Min, s99.Median, s99.Max, smax.Min, smax.Median, smax.Max, extra)
		return s99
	}
	fmt.Fprintf(w, "  %-34s %2s\n", "isolated event path (exact)", "n")
	for _, key := range sortedKeys(byMode) {
		rs := byMode[key]
		var p50, p90, p99, mx, cpu []float64
		for _, r := range rs {
			p50, p90, p99, mx = append(p50, r.LagMs.P50), append(p90, r.LagMs.P90), append(p99, r.LagMs.P99), append(mx, r.LagMs.Max)
			cpu = append(cpu, r.CPUUsPer)
		}
		c := spreadOf(cpu)
		s99 := line(key+"/s", len(rs), p50, p90, p99, mx, fmt.Sprintf(" CPU %.0f µs/order (median)", c.Median))
		res["isolated "+key] = map[string]any{"rounds": len(rs), "p99_ms": s99}
	}
	sys, _ := filepath.Glob(filepath.Join(out, "system-*-r*", "result.json"))
	byRate := map[string][]*SystemResult{}
	for _, p := range sys {
		var r SystemResult
		if err := readJSON(p, &r); err != nil {
			return err
		}
		key := fmt.Sprintf("%g", r.Rate)
		byRate[key] = append(byRate[key], &r)
	}
	if len(byRate) > 0 {
		fmt.Fprintf(w, "  %-34s %2s\n", "system (DB rows, ms resolution)", "n")
	}
	for _, key := range sortedKeys(byRate) {
		rs := byRate[key]
		var p50, p90, p99, mx, thr []float64
		sustained := 0
		for _, r := range rs {
			p50, p90, p99, mx = append(p50, r.LagMs.P50), append(p90, r.LagMs.P90), append(p99, r.LagMs.P99), append(mx, r.LagMs.Max)
			thr = append(thr, r.Load.ThroughputRPS)
			if r.Sustained {
				sustained++
			}
		}
		t := spreadOf(thr)
		s99 := line("lag @ "+key+"/s", len(rs), p50, p90, p99, mx,
			fmt.Sprintf(" sustained %d/%d, throughput %.0f/%.0f/%.0f/s", sustained, len(rs), t.Min, t.Median, t.Max))
		res["system "+key] = map[string]any{"rounds": len(rs), "sustained": sustained, "p99_ms": s99, "throughput": t}
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	return os.WriteFile(filepath.Join(out, "summary.json"), append(b, '\n'), 0o644)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, errA := strconv.ParseFloat(keys[i], 64)
		b, errB := strconv.ParseFloat(keys[j], 64)
		if errA == nil && errB == nil {
			return a < b
		}
		return keys[i] < keys[j]
	})
	return keys
}
