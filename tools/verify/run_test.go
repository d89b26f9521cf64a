package verify_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/souk/souk/tools/client"
	"github.com/souk/souk/tools/verify"
	"github.com/souk/souk/tools/verify/verifytest"
)

// script is a Source answering from a list of steps, the last repeated.
type script struct {
	mu    sync.Mutex
	steps []func() (verify.Data, error)
	n     int
}

func (s *script) Fetch(context.Context) (verify.Data, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	step := s.steps[min(s.n, len(s.steps)-1)]
	s.n++
	return step()
}

func (s *script) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func pending() (verify.Data, error) {
	d := bigData(3)
	d.Orders[1].Status = verify.OrderPending
	return d, nil
}

func done() (verify.Data, error) { return bigData(3), nil }

func fail(err error) func() (verify.Data, error) {
	return func() (verify.Data, error) { return verify.Data{}, err }
}

func TestRun(t *testing.T) {
	transient := &client.APIError{Status: 503}
	permanent := &client.APIError{Status: 403}
	tests := []struct {
		name       string
		steps      []func() (verify.Data, error)
		wait       time.Duration
		wantOK     bool
		wantErr    error
		wantCalls  int // exact; 0 means at least 2
		wantFailed string
	}{
		{name: "passes at once", steps: []func() (verify.Data, error){done}, wait: time.Minute, wantOK: true, wantCalls: 1},
		{name: "pending turns confirmed on the third fetch", steps: []func() (verify.Data, error){pending, pending, done}, wait: time.Minute, wantOK: true, wantCalls: 3},
		{name: "no wait audits once", steps: []func() (verify.Data, error){pending, done}, wait: 0, wantCalls: 1, wantFailed: verify.CheckTerminal},
		{name: "still pending when the wait passes", steps: []func() (verify.Data, error){pending}, wait: 100 * time.Millisecond, wantFailed: verify.CheckTerminal},
		{name: "a transient error is retried", steps: []func() (verify.Data, error){fail(transient), done}, wait: time.Minute, wantOK: true, wantCalls: 2},
		{name: "a permanent error is not", steps: []func() (verify.Data, error){fail(permanent), done}, wait: time.Minute, wantErr: permanent, wantCalls: 1},
		{name: "never a complete fetch", steps: []func() (verify.Data, error){fail(transient)}, wait: 100 * time.Millisecond, wantErr: transient},
		{name: "a failing fetch after a report keeps the report", steps: []func() (verify.Data, error){pending, fail(transient)}, wait: 100 * time.Millisecond, wantFailed: verify.CheckTerminal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &script{steps: tt.steps}
			progress := 0
			began := time.Now()
			rep, err := verify.Run(context.Background(), src, verify.Options{
				Wait: tt.wait, Interval: 10 * time.Millisecond,
				Progress: func(int, verify.Report, error) { progress++ },
			})
			if elapsed := time.Since(began); elapsed > tt.wait+5*time.Second {
				t.Errorf("took %v with a wait of %v", elapsed, tt.wait)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if rep.OK != tt.wantOK {
				t.Errorf("ok = %v, want %v (failed: %+v)", rep.OK, tt.wantOK, rep.Failed())
			}
			if tt.wantCalls > 0 && src.calls() != tt.wantCalls {
				t.Errorf("%d fetches, want %d", src.calls(), tt.wantCalls)
			}
			if tt.wantCalls == 0 && src.calls() < 2 {
				t.Errorf("%d fetches, want retries", src.calls())
			}
			if progress != src.calls()-1 && err == nil && tt.wantOK {
				t.Errorf("progress called %d times for %d fetches", progress, src.calls())
			}
			if tt.wantFailed != "" {
				failed := rep.Failed()
				if len(failed) != 1 || failed[0].Name != tt.wantFailed || failed[0].Violations[0] != "o:001+x#y" {
					t.Errorf("failed = %+v, want %s of o:001+x#y", failed, tt.wantFailed)
				}
			}
			if tt.wantErr == nil && rep.Attempts < 1 {
				t.Errorf("attempts = %d", rep.Attempts)
			}
		})
	}
}

func TestRunStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := verify.Run(ctx, &script{steps: []func() (verify.Data, error){pending}}, verify.Options{Wait: time.Minute, Interval: 10 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
}

// TestRunOverHTTP polls the fake gateway: its PENDING order turns
// CONFIRMED on the third audit, well within the wait.
func TestRunOverHTTP(t *testing.T) {
	d := bigData(4)
	d.Orders[2].Status = verify.OrderPending
	srv := verifytest.NewServer(d)
	defer srv.Close()
	srv.OnFetch = func(n int, d *verify.Data) {
		if n == 3 {
			d.Orders[2].Status = verify.OrderConfirmed
		}
	}
	rep, err := verify.Run(context.Background(), verify.NewGateway(adminClient(t, srv.URL), 3), verify.Options{Wait: 30 * time.Second, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Attempts != 3 || srv.Fetches() != 3 {
		t.Errorf("ok %v after %d attempts (%d fetches), want ok after 3; failed %+v", rep.OK, rep.Attempts, srv.Fetches(), rep.Failed())
	}
	if rep.Summary.Orders != 4 || rep.Summary.Confirmed != 4 || rep.Summary.Pending != 0 {
		t.Errorf("summary = %+v", rep.Summary)
	}
}
