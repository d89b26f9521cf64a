package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/failsafe-go/failsafe-go/timeout"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"

	"github.com/souk/souk/platform/balancer"
	"github.com/souk/souk/platform/registry"
	"github.com/souk/souk/platform/telemetry"
)

// Defaults of Options and BreakerOptions.
const (
	DefaultTimeout          = 2 * time.Second
	DefaultRetries          = 2
	DefaultFailureThreshold = 5
	DefaultBreakerDelay     = 2 * time.Second
	DefaultSuccessThreshold = 2
	DefaultWindow           = 10 * time.Second
	DefaultMinCalls         = 20

	// MaxResponseBytes caps the body of a response; a larger one fails the
	// call.
	MaxResponseBytes = 8 << 20

	retryDelay    = 10 * time.Millisecond
	retryMaxDelay = 200 * time.Millisecond
	retryJitter   = 0.25
)

// Resolver gives the instances of a service. The registry's client
// implements it. The slice is a read-only snapshot: a change of instances
// comes as a new slice, which is how the client notices it cheaply.
type Resolver interface {
	Instances(service string) []registry.Instance
}

// BreakerOptions configure the circuit breaker the client keeps for each
// callee service. Failures are connection errors, timeouts and 5xx answers;
// a 4xx answer is a success (the service works, the request was wrong).
type BreakerOptions struct {
	// FailureThreshold is how many consecutive failures open the breaker;
	// default 5. Ignored when FailureRate is set.
	FailureThreshold int
	// FailureRate, when above 0 (at most 1), opens the breaker instead when
	// that share of the calls in the last Window failed, once at least
	// MinCalls calls were made in it.
	FailureRate float64
	Window      time.Duration // default 10s
	MinCalls    int           // default 20
	// Delay is how long the breaker stays open before it lets trial calls
	// through (half-open); default 2s.
	Delay time.Duration
	// SuccessThreshold is how many trial calls must succeed to close the
	// breaker; default 2. Any failure among them opens it again.
	SuccessThreshold int
}

// Options configure a Client. Only Resolver is required.
type Options struct {
	Resolver Resolver
	// Transport sends the requests; when nil, pooled fasthttp clients do
	// (see fastTransport), which cost a fraction of net/http's CPU.
	Transport http.RoundTripper
	// Token returns the value of the Authorization header of internal calls
	// ("Bearer ..."); nil or "" sends none. A Call's own header wins.
	Token func(ctx context.Context) string
	// Timeout bounds each attempt; default 2s. Call.Timeout overrides it.
	Timeout time.Duration
	// Retries is how many extra attempts an idempotent call gets; default 2.
	// Negative means none. It also bounds how often any call is re-sent
	// after its connection could not be opened.
	Retries int
	Breaker BreakerOptions
	Logger  *slog.Logger
	// Metrics registers the client's Prometheus metrics; nil for none.
	Metrics prometheus.Registerer
	// Caller is this service's name, in metrics and the User-Agent.
	Caller string
}

// Call is one request to a service.
type Call struct {
	Method string // default GET
	Path   string // "/products/4521", escaped as it goes on the wire
	Query  url.Values
	Body   any // JSON-encoded when non-nil
	Header http.Header
	// Idempotent calls are retried on another instance after a connection
	// error, a timeout or a 502/503/504.
	Idempotent bool
	// Timeout overrides Options.Timeout for each attempt of this call.
	Timeout time.Duration
}

// Client makes calls to other services through discovery, load balancing,
// retries, circuit breakers and the transport. It is safe for concurrent
// use; make one per process and share it.
type Client struct {
	resolver  Resolver
	rt        http.RoundTripper // when set by Options.Transport
	fast      *fastTransport    // otherwise
	token     func(context.Context) string
	timeout   time.Duration
	retries   int
	breaker   BreakerOptions
	log       *slog.Logger
	metrics   *metrics
	userAgent []string

	// Policies are configuration only (failsafe makes a fresh executor per
	// execution), so they are shared by every service.
	timeoutPolicy timeout.Timeout[struct{}]
	retryPolicy   retrypolicy.RetryPolicy[struct{}]
	dialPolicy    retrypolicy.RetryPolicy[struct{}]

	mu       sync.Mutex // serialises adding services
	services atomic.Pointer[map[string]*service]
}

// NewTransport returns the transport tuned for internal calls: no proxy, a
// 1s connect timeout, up to 256 idle keep-alive connections per instance
// kept for 90s, and no gzip (compression costs more CPU than it saves on a
// local network).
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// New returns a client. It panics if opts.Resolver is nil, a programming
// error.
func New(opts Options) *Client {
	if opts.Resolver == nil {
		panic("rpc: New without a Resolver")
	}
	c := &Client{
		resolver: opts.Resolver,
		rt:       opts.Transport,
		token:    opts.Token,
		timeout:  opts.Timeout,
		retries:  opts.Retries,
		breaker:  opts.Breaker,
		log:      opts.Logger,
	}
	if c.rt == nil {
		c.fast = &fastTransport{}
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.retries == 0 {
		c.retries = DefaultRetries
	}
	if c.retries < 0 {
		c.retries = 0
	}
	b := &c.breaker
	if b.FailureThreshold <= 0 {
		b.FailureThreshold = DefaultFailureThreshold
	}
	if b.FailureRate > 1 {
		b.FailureRate = 1
	}
	if b.Window <= 0 {
		b.Window = DefaultWindow
	}
	if b.MinCalls <= 0 {
		b.MinCalls = DefaultMinCalls
	}
	if b.Delay <= 0 {
		b.Delay = DefaultBreakerDelay
	}
	if b.SuccessThreshold <= 0 {
		b.SuccessThreshold = DefaultSuccessThreshold
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	ua := "souk-rpc"
	if opts.Caller != "" {
		ua = "souk-rpc/" + opts.Caller
	}
	c.userAgent = []string{ua}
	if opts.Metrics != nil {
		c.metrics = newMetrics(opts.Metrics, opts.Caller)
	}

	c.timeoutPolicy = timeout.New[struct{}](c.timeout)
	c.retryPolicy = retrypolicy.NewBuilder[struct{}]().
		HandleIf(retryable).
		WithMaxRetries(c.retries).
		WithBackoff(retryDelay, retryMaxDelay).
		WithJitterFactor(retryJitter).
		ReturnLastFailure().
		Build()
	c.dialPolicy = retrypolicy.NewBuilder[struct{}]().
		HandleIf(neverSent).
		WithMaxRetries(c.retries).
		ReturnLastFailure().
		Build()
	c.services.Store(&map[string]*service{})
	return c
}

// CloseIdleConnections closes the transport's idle connections, if it can.
func (c *Client) CloseIdleConnections() {
	if c.fast != nil {
		c.fast.closeIdle()
		return
	}
	if t, ok := c.rt.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// Do sends call to an instance of service and decodes a 2xx JSON answer into
// out (unless out is nil or the body is empty). Its errors carry a fault
// kind:
//
//   - the callee's problem+json answer comes back as the same *fault.Error
//     (kind from the status, same code and message), so a 409 out_of_stock
//     stays a 409 out_of_stock;
//   - a non-2xx answer without a problem body is Unavailable (5xx) or
//     Invalid (4xx);
//   - no instance, connection failures and an open breaker are Unavailable
//     (code "unavailable"; an open breaker sets RetryAfter);
//   - an attempt over the timeout, or ctx's deadline, is Timeout.
//
// The error's text names the service, method and path.
func (c *Client) Do(ctx context.Context, service string, call Call, out any) error {
	start := time.Now()
	if call.Method == "" {
		call.Method = http.MethodGet
	}
	err := c.do(ctx, service, &call, out)
	if c.metrics != nil {
		c.metrics.observe(service, call.Method, time.Since(start), err)
	}
	if err != nil {
		return fmt.Errorf("call %s %s %s: %w", service, call.Method, call.Path, err)
	}
	return nil
}

func (c *Client) do(ctx context.Context, name string, call *Call, out any) error {
	if len(call.Path) == 0 || call.Path[0] != '/' {
		return fmt.Errorf("path %q does not start with /", call.Path)
	}
	svc := c.service(name)
	instances := c.resolver.Instances(name)
	if len(instances) == 0 {
		return unavailable(name, nil)
	}
	svc.refresh(instances)

	var body []byte
	if call.Body != nil {
		var err error
		if body, err = json.Marshal(call.Body); err != nil {
			return fmt.Errorf("encode body: %w", err)
		}
	}
	target := call.Path
	if len(call.Query) > 0 {
		target += "?" + call.Query.Encode()
	}
	a := &attempt{
		c:      c,
		svc:    svc,
		ctx:    ctx,
		method: call.Method,
		target: target,
		header: c.header(ctx, call, body != nil),
		body:   body,
		out:    out,
	}
	a.timeout = c.timeout
	if call.Timeout > 0 {
		a.timeout = call.Timeout
	}
	exec := svc.executor(c, call)
	_, err := exec.WithContext(ctx).GetWithExecution(a.run)
	return svc.fault(ctx, err)
}

var (
	headerAccept      = []string{"application/json, application/problem+json"}
	headerContentType = []string{"application/json"}
)

// header builds the headers of every attempt of a call; the transport only
// reads them, so the attempts share one map.
func (c *Client) header(ctx context.Context, call *Call, hasBody bool) http.Header {
	h := make(http.Header, len(call.Header)+6)
	for k, v := range call.Header {
		h[textproto.CanonicalMIMEHeaderKey(k)] = v
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = c.userAgent
	}
	if _, ok := h["Accept"]; !ok {
		h["Accept"] = headerAccept
	}
	if _, ok := h["Content-Type"]; hasBody && !ok {
		h["Content-Type"] = headerContentType
	}
	if _, ok := h[telemetry.HeaderRequestID]; !ok {
		if id := telemetry.RequestID(ctx); id != "" {
			h[telemetry.HeaderRequestID] = []string{id}
		}
	}
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(h))
	if _, ok := h["Authorization"]; !ok && c.token != nil {
		if tok := c.token(ctx); tok != "" {
			h["Authorization"] = []string{tok}
		}
	}
	return h
}

// Breakers returns the state of the breaker of each service called so far:
// "closed", "open" or "half-open". An open breaker whose delay has passed
// shows "open" until the next call moves it to half-open.
func (c *Client) Breakers() map[string]string {
	services := *c.services.Load()
	out := make(map[string]string, len(services))
	for name, svc := range services {
		out[name] = svc.breaker.State().String()
	}
	return out
}

// service returns the state kept for the callee name, creating it on first
// use. Reads take no lock.
func (c *Client) service(name string) *service {
	if svc := (*c.services.Load())[name]; svc != nil {
		return svc
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := *c.services.Load()
	if svc := cur[name]; svc != nil {
		return svc
	}
	svc := newService(c, name)
	next := make(map[string]*service, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[name] = svc
	c.services.Store(&next)
	return svc
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// attempt is one call's state across its attempts, which run one after the
// other.
type attempt struct {
	c       *Client
	svc     *service
	ctx     context.Context // the caller's
	method  string
	target  string // path and query
	header  http.Header
	body    []byte
	out     any
	timeout time.Duration // of each attempt
	exclude string        // the instance that failed last
}

// run is one attempt: pick an instance, send, read the answer.
func (a *attempt) run(exec failsafe.Execution[struct{}]) (struct{}, error) {
	if exec.Attempts() > 1 && a.c.metrics != nil {
		a.c.metrics.retry(a.svc.name)
	}
	ep, err := a.svc.bal.Pick(a.exclude)
	if err != nil {
		return struct{}{}, errNoInstance
	}
	actx := exec.Context() // bounded by the attempt's timeout and ctx
	start := time.Now()
	err = a.send(actx, ep.Addr)

	// The balancer learns whether the instance answered: a connection
	// failure counts toward ejection; a cancelled attempt is a slow answer.
	outcome := err
	var te *transportError
	switch {
	case actx.Err() != nil:
		outcome = actx.Err()
	case errors.As(err, &te):
		outcome = te.err
	default:
		outcome = nil
	}
	ep.Done(start, outcome)
	if balancer.ConnectionFailure(outcome) {
		a.c.log.Warn("instance unreachable", "callee", a.svc.name, "instance", ep.ID, "addr", ep.Addr, "err", outcome.Error())
	}

	if err != nil {
		a.exclude = ep.ID
		if a.ctx.Err() != nil {
			return struct{}{}, &callerError{err: a.ctx.Err()}
		}
	}
	return struct{}{}, err
}

func (a *attempt) send(ctx context.Context, addr string) error {
	if a.c.fast != nil {
		return a.sendFast(ctx, addr)
	}
	var body io.Reader
	if a.body != nil {
		body = bytes.NewReader(a.body)
	}
	req, err := http.NewRequestWithContext(ctx, a.method, "http://"+addr+a.target, body)
	if err != nil {
		return fmt.Errorf("new request: %w", err)
	}
	req.Header = a.header
	resp, err := a.c.rt.RoundTrip(req)
	if err != nil {
		return &transportError{err: err}
	}
	defer resp.Body.Close()

	buf := bufPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 { // keep big buffers out of the pool
			buf.Reset()
			bufPool.Put(buf)
		}
	}()
	buf.Reset()
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return &transportError{err: fmt.Errorf("read response: %w", err)}
	}
	if n > MaxResponseBytes {
		return fmt.Errorf("response over %d bytes", MaxResponseBytes)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if a.out != nil && n > 0 {
			if err := json.Unmarshal(buf.Bytes(), a.out); err != nil {
				return fmt.Errorf("decode response: %w", err)
			}
		}
		return nil
	}
	return newStatusError(a.svc.name, resp.StatusCode, buf.Bytes())
}
