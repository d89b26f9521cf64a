package verify

import (
	"context"
	"time"
)

// DefaultInterval is the pause between two audits of Run.
const DefaultInterval = 500 * time.Millisecond

// Options tune Run.
type Options struct {
	// Wait is how long Run keeps auditing while checks fail (orders still
	// PENDING, events not yet consumed); 0 audits once.
	Wait time.Duration
	// Interval is the pause between audits; 0 means DefaultInterval.
	Interval time.Duration
	// Expect, when set, adds the expected_orders check.
	Expect *Expectations
	// Progress, when set, is called after each audit that will be retried,
	// with the report or the transient error of that attempt.
	Progress func(attempt int, rep Report, err error)
}

// Run audits src until every check holds or opts.Wait has passed since it
// began, and returns the last report (Attempts set). A fetch that fails for
// a transient reason (see Transient) is retried like a failing check.
// Errors: a fetch error that is not transient, ctx's error, or — when the
// wait passed without a single complete fetch — the last fetch error. A
// report with violations is not an error.
func Run(ctx context.Context, src Source, opts Options) (Report, error) {
	interval := opts.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	began := time.Now()
	var (
		last    Report
		have    bool
		lastErr error
	)
	for attempt := 1; ; attempt++ {
		d, err := src.Fetch(ctx)
		switch {
		case ctx.Err() != nil:
			return Report{}, ctx.Err()
		case err != nil && !Transient(err):
			return Report{}, err
		case err != nil:
			lastErr = err
		default:
			last, have, lastErr = Check(d, opts.Expect), true, nil
			last.Attempts = attempt
			if last.OK {
				return last, nil
			}
		}
		remaining := opts.Wait - time.Since(began)
		if remaining <= 0 {
			if !have {
				return Report{}, lastErr
			}
			return last, nil
		}
		if opts.Progress != nil {
			opts.Progress(attempt, last, lastErr)
		}
		t := time.NewTimer(min(interval, remaining))
		select {
		case <-ctx.Done():
			t.Stop()
			return Report{}, ctx.Err()
		case <-t.C:
		}
	}
}
