package load

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to 10 minutes, with 3
// significant digits.
const (
	histMin    = 1
	histMax    = int64(10 * time.Minute / time.Microsecond)
	histDigits = 3
)

// Error keys that are not HTTP answers.
const (
	ErrDropped    = "dropped: client saturated"
	ErrTimeout    = "timeout"
	ErrConnection = "connection error"   // closed or reset while the request was out
	ErrRefused    = "connection refused" // could not connect: nothing was sent
	ErrNoConn     = "timeout: no free connection"
	ErrNoUser     = "no user in pool"
	ErrAbandoned  = "abandoned: in flight at stop"
)

// outcome is how one step ended: an HTTP status, or a transport failure.
type outcome struct {
	status    int    // 0 when there was no answer
	code      []byte // the problem+json code of an error answer, if any
	transport string // the failure class when status is 0
}

func (o outcome) failed() bool { return o.status == 0 || o.status >= 400 }

// Second is one second of the run, by completion time.
type Second struct {
	T         int     `json:"t"` // seconds since the start
	Completed int64   `json:"completed"`
	Errors    int64   `json:"errors"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
	Max       float64 `json:"max_ms"`
}

type stepStats struct {
	requests int64
	errors   int64
	hist     *hdrhistogram.Histogram
}

// Recorder collects per-step HDR histograms, error counts by key and a
// per-second series. It is safe for concurrent use.
type Recorder struct {
	start time.Time

	completed atomic.Int64
	errors    atomic.Int64

	inflight [numSteps]atomic.Int64

	mu       sync.Mutex
	done     bool // finish was called: later records are ignored
	steps    [numSteps]stepStats
	errorsBy map[string]*int64
	keyBuf   []byte
	cur      *hdrhistogram.Histogram // the second being filled
	curSec   int
	curDone  int64
	curErrs  int64
	series   []Second
	last     time.Time // the latest completion
}

// NewRecorder returns a recorder whose seconds count from start.
func NewRecorder(start time.Time) *Recorder {
	r := &Recorder{start: start, errorsBy: map[string]*int64{}, cur: hdrhistogram.New(histMin, histMax, histDigits), last: start}
	for i := range r.steps {
		r.steps[i].hist = hdrhistogram.New(histMin, histMax, histDigits)
	}
	return r
}

// Record adds a completed step: its latency, its outcome and when it
// completed.
func (r *Recorder) Record(step int, latency time.Duration, now time.Time, o outcome) {
	us := latency.Microseconds()
	if us < histMin {
		us = histMin
	}
	if us > histMax {
		us = histMax
	}
	failed := o.failed()
	r.completed.Add(1)
	if failed {
		r.errors.Add(1)
	}
	r.mu.Lock()
	if r.done {
		r.mu.Unlock()
		return
	}
	r.inflight[step].Add(-1)
	r.advanceLocked(now)
	st := &r.steps[step]
	st.requests++
	_ = st.hist.RecordValue(us)
	_ = r.cur.RecordValue(us)
	r.curDone++
	if failed {
		st.errors++
		r.curErrs++
		r.countErrorLocked(o)
	}
	if now.After(r.last) {
		r.last = now
	}
	r.mu.Unlock()
}

// Begin notes that a step is being sent; Record ends it. A step begun but
// not recorded when the run ends counts as an error ErrAbandoned.
func (r *Recorder) Begin(step int) { r.inflight[step].Add(1) }

// Fail counts a step that was never sent (an arrival dropped for the
// in-flight cap, a journey without a user): a request and an error under
// key, with no latency.
func (r *Recorder) Fail(step int, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return
	}
	r.errors.Add(1)
	r.steps[step].requests++
	r.steps[step].errors++
	r.countErrorLocked(outcome{transport: key})
}

// countErrorLocked adds one to the error key of o: "409 out_of_stock",
// "503", "timeout", ...; the map lookup by a byte slice does not allocate.
func (r *Recorder) countErrorLocked(o outcome) {
	b := r.keyBuf[:0]
	if o.status == 0 {
		b = append(b, o.transport...)
	} else {
		b = strconv.AppendInt(b, int64(o.status), 10)
		if len(o.code) > 0 {
			b = append(b, ' ')
			b = append(b, o.code...)
		}
	}
	r.keyBuf = b
	if p := r.errorsBy[string(b)]; p != nil {
		*p++
		return
	}
	n := int64(1)
	r.errorsBy[string(b)] = &n
}

// Advance closes every second before now's; it returns the last closed
// second, if any. The progress line calls it once a second so that a
// second without completions (a stall) is closed too.
func (r *Recorder) Advance(now time.Time) (Second, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advanceLocked(now)
	if len(r.series) == 0 {
		return Second{}, false
	}
	return r.series[len(r.series)-1], true
}

func (r *Recorder) advanceLocked(now time.Time) {
	sec := int(now.Sub(r.start) / time.Second)
	for r.curSec < sec {
		r.closeSecondLocked()
	}
}

func (r *Recorder) closeSecondLocked() {
	s := Second{T: r.curSec, Completed: r.curDone, Errors: r.curErrs}
	if r.cur.TotalCount() > 0 {
		s.P50 = ms(r.cur.ValueAtQuantile(50))
		s.P99 = ms(r.cur.ValueAtQuantile(99))
		s.Max = ms(r.cur.Max())
	}
	r.series = append(r.series, s)
	r.cur.Reset()
	r.curDone, r.curErrs = 0, 0
	r.curSec++
}

// Completed is the number of steps completed (answered or failed), not
// counting drops.
func (r *Recorder) Completed() int64 { return r.completed.Load() }

// Errors is the number of failed steps, drops included.
func (r *Recorder) Errors() int64 { return r.errors.Load() }

// Latency is a latency summary in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

func summarize(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		P50:  ms(h.ValueAtQuantile(50)),
		P90:  ms(h.ValueAtQuantile(90)),
		P99:  ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)),
		Max:  ms(h.Max()),
	}
}

// ms converts microseconds to milliseconds rounded to the microsecond.
func ms(us int64) float64 { return float64(us) / 1000 }

// StepReport is one step's numbers.
type StepReport struct {
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Latency  Latency `json:"latency_ms"`
}

// snapshot is what the recorder holds at the end of a run.
type snapshot struct {
	requests, errors, completed int64
	total                       Latency
	steps                       map[string]StepReport
	errorsBy                    map[string]int64
	series                      []Second
	last                        time.Time
}

// finish closes the seconds up to end (the partial last one included when
// it saw completions), counts the steps still in flight as ErrAbandoned
// and returns the totals. Records after it are ignored.
func (r *Recorder) finish(end time.Time) snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advanceLocked(end)
	if r.curDone > 0 {
		r.closeSecondLocked()
	}
	r.done = true
	for i := range r.inflight {
		// Steps still in flight are requests whose answer never came in
		// time to count: errors, without a latency.
		if n := r.inflight[i].Load(); n > 0 {
			r.steps[i].requests += n
			r.steps[i].errors += n
			r.errors.Add(n)
			for range n {
				r.countErrorLocked(outcome{transport: ErrAbandoned})
			}
		}
	}
	s := snapshot{steps: map[string]StepReport{}, errorsBy: map[string]int64{}, last: r.last}
	total := hdrhistogram.New(histMin, histMax, histDigits)
	for i := range r.steps {
		st := &r.steps[i]
		if st.requests == 0 {
			continue
		}
		total.Merge(st.hist)
		s.requests += st.requests
		s.errors += st.errors
		s.steps[Steps[i]] = StepReport{Requests: st.requests, Errors: st.errors, Latency: summarize(st.hist)}
	}
	s.completed = total.TotalCount()
	s.total = summarize(total)
	for k, v := range r.errorsBy {
		s.errorsBy[k] = *v
	}
	s.series = append([]Second(nil), r.series...)
	return s
}
