package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/registry"
)

// The tests here build a Gateway directly and serve it on a loopback port
// with a real fasthttp server; upstreams are net/http test servers found
// through a fake registry.

// fakeResolver is a registry whose instances the test sets.
type fakeResolver struct {
	mu  sync.Mutex
	m   map[string][]registry.Instance
	gen atomic.Uint64
}

func (r *fakeResolver) Instances(service string) []registry.Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[service]
}

func (r *fakeResolver) Generation() uint64 { return r.gen.Load() }

// set gives service one instance per address, with ids <service>-1...
func (r *fakeResolver) set(service string, addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string][]registry.Instance{}
	}
	var list []registry.Instance
	for i, a := range addrs {
		list = append(list, registry.Instance{ID: fmt.Sprintf("%s-%d", service, i+1), Service: service, Addr: a, Started: time.Unix(1, 0)})
	}
	r.m[service] = list
	r.gen.Add(1)
}

// seen is a request as an upstream received it.
type seen struct {
	Method     string
	RequestURI string
	Path       string
	Header     http.Header
	Body       string
}

// testUpstream is a test service that records what reaches it. Its handler
// answers 200 {"ok":true} unless the test sets another.
type testUpstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []seen
	// handle, when set, answers instead of the default.
	handle http.HandlerFunc
}

func newUpstream(t *testing.T) *testUpstream {
	t.Helper()
	u := &testUpstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, seen{Method: r.Method, RequestURI: r.RequestURI, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(body)})
		h := u.handle
		u.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *testUpstream) addr() string { return u.srv.Listener.Addr().String() }

func (u *testUpstream) setHandler(h http.HandlerFunc) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.handle = h
}

func (u *testUpstream) requests() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.reqs...)
}

func (u *testUpstream) hits() int { return len(u.requests()) }

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gw is a gateway under test.
type gw struct {
	g       *Gateway
	res     *fakeResolver
	url     string // http://127.0.0.1:port
	addr    string
	logs    *syncBuffer // the access log
	appLog  *syncBuffer // the gateway's own log
	key     authn.SigningKey
	secret  []byte
	client  *http.Client
	handled atomic.Int32 // built-in handler calls
}

type gwConfig struct {
	routes *RouteTable // nil: DefaultRoutes
	limits Limits      // zero: no rate limits, 1024 in flight
	// handlers replace the stand-ins of the built-in handlers, which
	// answer 200 {"handler": name}.
	handlers map[string]func(*fasthttp.RequestCtx, *request)
	resolver *fakeResolver // nil: a new one
	logins   *loginCounter // nil: each gateway counts logins on its own
}

func newGW(t testing.TB, cfg gwConfig) *gw {
	t.Helper()
	key, err := authn.NewSigningKey(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	table := DefaultRoutes()
	if cfg.routes != nil {
		table = *cfg.routes
	}
	if err := table.prepare(); err != nil {
		t.Fatal(err)
	}
	lim := cfg.limits
	if lim.MaxInflight == 0 {
		lim.MaxInflight = 1024
	}
	res := cfg.resolver
	if res == nil {
		res = &fakeResolver{}
	}
	e := &gw{res: res, logs: &syncBuffer{}, appLog: &syncBuffer{}, key: key, secret: []byte("0123456789abcdef0123456789abcdef")}
	e.g = &Gateway{
		ups: newUpstreams(e.res),
		verifier: authn.NewVerifier(authn.Options{
			Keys:          func(kid string) (ed25519.PublicKey, bool) { return key.Public(), kid == key.ID },
			ServiceSecret: e.secret,
		}),
		limits:    lim,
		log:       slog.New(slog.NewJSONHandler(e.appLog, nil)),
		access:    newAccessLog(e.logs, "gateway", "gateway-1"),
		metrics:   newMetrics(prometheus.NewRegistry()),
		clients:   newLimiterSet(lim.ClientRate, lim.ClientBurst),
		anonymous: newLimiterSet(lim.AnonymousRate, lim.AnonymousBurst),
		loginIP:   newLimiterSet(float64(lim.LoginPerIP)/60, lim.LoginPerIP),
		loginAcct: newLimiterSet(float64(lim.LoginPerAccount)/60, lim.LoginPerAccount),
		logins:    cfg.logins,
		serveOps: func(ctx *fasthttp.RequestCtx) {
			writeJSON(ctx, fasthttp.StatusOK, map[string]string{"ops": string(ctx.Path())})
		},
	}
	e.g.routes.Store(&table)
	e.g.handlers = map[string]func(*fasthttp.RequestCtx, *request){}
	for name := range handlers {
		e.g.handlers[name] = func(ctx *fasthttp.RequestCtx, r *request) {
			e.handled.Add(1)
			writeJSON(ctx, fasthttp.StatusOK, map[string]string{"handler": name})
		}
	}
	for name, h := range cfg.handlers {
		e.g.handlers[name] = h
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(e.g)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	e.addr = ln.Addr().String()
	e.url = "http://" + e.addr
	e.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(e.client.CloseIdleConnections)
	return e
}

// newTestServer is the server of Run.
func newTestServer(g *Gateway) *fasthttp.Server {
	return newServer(g, slog.New(slog.DiscardHandler))
}

func (e *gw) token(t testing.TB, user, role string) string {
	t.Helper()
	tok, err := authn.SignUser(e.key, user, user+"@example.com", "Test", role, time.Now(), 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// resp is an answer as the client sees it.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) problem(t *testing.T) fault.Problem {
	t.Helper()
	var p fault.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("body %q is not a problem: %v", r.body, err)
	}
	return p
}

// do sends one request; headers are "Name: value" pairs.
func (e *gw) do(t *testing.T, method, path, body string, headers ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Add(k, v)
	}
	r, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp{status: r.StatusCode, header: r.Header, body: b}
}

// raw writes raw bytes on a new connection and reads one response.
func (e *gw) raw(t *testing.T, raw string) resp {
	t.Helper()
	// The gateway answers a request it refuses (413, 431) as soon as it
	// has seen enough, then closes: our write of the rest can fail with a
	// reset, and the reset can beat the answer to us. Once more then.
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var r resp
		if r, err = e.rawOnce(raw); err == nil {
			return r
		}
	}
	t.Fatalf("%q: %v", short40(raw), err)
	return resp{}
}

func (e *gw) rawOnce(raw string) (resp, error) {
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		return resp{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, werr := io.WriteString(c, raw) // the answer may be there all the same
	r, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return resp{}, fmt.Errorf("read response: %w (write: %v)", err, werr)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{status: r.StatusCode, header: r.Header, body: b}, nil
}

func short40(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// wantProblem checks that r is a problem+json answer with status and code,
// its status member matching the HTTP status, and the request id echoed.
func wantProblem(t *testing.T, r resp, status int, code string) fault.Problem {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != fault.ContentType {
		t.Errorf("Content-Type = %q, want %q", ct, fault.ContentType)
	}
	p := r.problem(t)
	if p.Code != code {
		t.Errorf("problem code = %q, want %q (body %s)", p.Code, code, r.body)
	}
	if p.Status != r.status {
		t.Errorf("problem status member = %d, HTTP status %d: they must agree", p.Status, r.status)
	}
	if id := r.header.Get("X-Request-Id"); id == "" || p.RequestID != id {
		t.Errorf("problem request_id = %q, header X-Request-Id = %q: want the same, non-empty", p.RequestID, id)
	}
	return p
}

// accessLines flushes the access log and decodes every line; a line that
// is not a JSON object fails the test.
func (e *gw) accessLines(t *testing.T) []map[string]any {
	t.Helper()
	e.g.access.flush()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(e.logs.String(), "\n"), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(l))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil || dec.More() {
			t.Fatalf("access log line %q is not one JSON object: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func loopback() netip.Prefix { return netip.MustParsePrefix("127.0.0.1/32") }

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var _ = context.Background
