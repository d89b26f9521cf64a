package rpc

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/timeout"

	"github.com/souk/souk/platform/balancer"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/registry"
)

// service is what the client keeps per callee: its balancer, the snapshot of
// instances the balancer was last updated from, its breaker and the
// executors composed around it.
type service struct {
	name    string
	bal     *balancer.Balancer
	snap    atomic.Pointer[snapshot]
	mu      sync.Mutex // serialises refresh
	breaker circuitbreaker.CircuitBreaker[struct{}]

	// idempotent: Retry(Breaker(Timeout(attempt))); other calls:
	// DialRetry(Breaker(Timeout(attempt))). Each attempt passes the breaker,
	// and the timeout bounds one attempt, not the call.
	idempotent failsafe.Executor[struct{}]
	once       failsafe.Executor[struct{}]
}

// snapshot identifies a resolver snapshot by its backing array and length.
type snapshot struct {
	first *registry.Instance
	n     int
}

func newService(c *Client, name string) *service {
	s := &service{name: name, bal: balancer.New(balancer.Options{})}
	o := c.breaker
	b := circuitbreaker.NewBuilder[struct{}]().
		HandleIf(breakerFailure).
		WithDelay(o.Delay).
		WithSuccessThreshold(uint(o.SuccessThreshold)).
		OnStateChanged(func(e circuitbreaker.StateChangedEvent) {
			switch e.NewState {
			case circuitbreaker.OpenState:
				c.log.Warn("circuit breaker opened", "callee", name, "from", e.OldState.String(), "delay", o.Delay)
			default:
				c.log.Info("circuit breaker "+e.NewState.String(), "callee", name, "from", e.OldState.String())
			}
			if c.metrics != nil {
				c.metrics.breakerState(name, e.NewState)
			}
		})
	if o.FailureRate > 0 {
		b = b.WithFailureRateThreshold(o.FailureRate, uint(o.MinCalls), o.Window)
	} else {
		b = b.WithFailureThreshold(uint(o.FailureThreshold))
	}
	s.breaker = b.Build()
	if c.metrics != nil {
		c.metrics.breakerState(name, circuitbreaker.ClosedState)
	}
	s.idempotent = failsafe.With[struct{}](c.retryPolicy, s.breaker, c.timeoutPolicy)
	s.once = failsafe.With[struct{}](c.dialPolicy, s.breaker, c.timeoutPolicy)
	return s
}

// executor returns the executor for call: with retries only if it is
// idempotent, and with its own timeout if it sets one.
func (s *service) executor(c *Client, call *Call) failsafe.Executor[struct{}] {
	if call.Timeout > 0 && call.Timeout != c.timeout {
		t := timeout.New[struct{}](call.Timeout)
		if call.Idempotent {
			return failsafe.With[struct{}](c.retryPolicy, s.breaker, t)
		}
		return failsafe.With[struct{}](c.dialPolicy, s.breaker, t)
	}
	if call.Idempotent {
		return s.idempotent
	}
	return s.once
}

// refresh updates the balancer when the resolver's snapshot changed, which
// it tells by the slice's backing array and length: a new snapshot is a new
// slice. instances is not empty.
func (s *service) refresh(instances []registry.Instance) {
	first := &instances[0]
	if cur := s.snap.Load(); cur != nil && cur.first == first && cur.n == len(instances) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bal.Update(instances)
	s.snap.Store(&snapshot{first: first, n: len(instances)})
}

// fault turns what the executor returned into the error Do returns.
func (s *service) fault(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var se *statusError
	if errors.As(err, &se) {
		return se.fault
	}
	if errors.Is(err, circuitbreaker.ErrOpen) {
		return &fault.Error{
			Kind:       fault.Unavailable,
			Code:       "unavailable",
			Message:    s.name + " is unavailable",
			RetryAfter: s.breaker.RemainingDelay(),
			Err:        err,
		}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return timedOut(s.name, ctxErr)
		}
		return ctxErr
	}
	// The attempt's own deadline: the failsafe timeout policy, or the
	// transport's deadline when it fires first (same instant, either order).
	if errors.Is(err, timeout.ErrExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return timedOut(s.name, err)
	}
	var te *transportError
	if errors.As(err, &te) {
		return unavailable(s.name, te.err)
	}
	if errors.Is(err, errNoInstance) {
		return unavailable(s.name, nil)
	}
	return err // a bug of ours: encoding, decoding, an oversized answer
}
