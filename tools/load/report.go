package load

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
)

// WriteTable writes the report for people: per step requests, errors and
// latency percentiles, the totals, throughput, errors by status code and
// the orders' outcomes.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "STEP\tREQUESTS\tERRORS\tP50 ms\tP90 ms\tP99 ms\tP99.9 ms\tMAX ms\t")
	for _, name := range Steps {
		st, ok := r.Steps[name]
		if !ok {
			continue
		}
		writeRow(tw, name, st.Requests, st.Errors, st.Latency)
	}
	writeRow(tw, "total", r.Requests, r.Errors, r.Latency)
	if err := tw.Flush(); err != nil {
		return err
	}
	state := "completed"
	if r.Interrupted {
		state = "interrupted"
	}
	fmt.Fprintf(w, "\nrun %s: %d journeys scheduled at %g/s, %d steps completed in %.1fs: throughput %.1f req/s\n",
		state, r.Arrivals, r.Rate, r.Completed, r.DurationS, r.ThroughputRPS)
	rate := 0.0
	if r.Requests > 0 {
		rate = 100 * float64(r.Errors) / float64(r.Requests)
	}
	fmt.Fprintf(w, "errors: %d of %d requests (%.2f%%)\n", r.Errors, r.Requests, rate)
	keys := make([]string, 0, len(r.ErrorsBy))
	for k := range r.ErrorsBy {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if r.ErrorsBy[keys[i]] != r.ErrorsBy[keys[j]] {
			return r.ErrorsBy[keys[i]] > r.ErrorsBy[keys[j]]
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		fmt.Fprintf(w, "  %8d  %s\n", r.ErrorsBy[k], k)
	}
	if _, ok := r.Steps["order"]; ok {
		o := r.Orders
		fmt.Fprintf(w, "orders: %d accepted (%d confirmed, %d pending), %d rejected, %d ambiguous\n",
			o.Accepted, o.Confirmed, o.Pending, o.Rejected, o.Ambiguous)
	}
	if r.ClientCPUMicros > 0 {
		fmt.Fprintf(w, "generator CPU: %.1f µs per request\n", r.ClientCPUMicros)
	}
	_, err := fmt.Fprintf(w, "users in pool: %d\n", r.Users)
	return err
}

func writeRow(w io.Writer, name string, requests, errors int64, l Latency) {
	fmt.Fprintf(w, "%s\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", name, requests, errors, l.P50, l.P90, l.P99, l.P999, l.Max)
}
