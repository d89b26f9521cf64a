package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/souk/souk/platform/boot"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/telemetry"
	"github.com/souk/souk/platform/workers"
	"github.com/souk/souk/web"
)

// Config is the gateway's own configuration.
type Config struct {
	RoutesFile  string
	PageTimeout time.Duration
	Limits      Limits
}

// ConfigFromEnv reads the gateway's settings.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{RoutesFile: getenv("SOUK_GATEWAY_ROUTES"), PageTimeout: 800 * time.Millisecond, Limits: DefaultLimits()}
	var err error
	floats := map[string]*float64{"SOUK_GATEWAY_RATE": &c.Limits.ClientRate, "SOUK_GATEWAY_ANON_RATE": &c.Limits.AnonymousRate}
	for k, p := range floats {
		if v := getenv(k); v != "" {
			if *p, err = strconv.ParseFloat(v, 64); err != nil || *p < 0 {
				return c, fmt.Errorf("%s: want a rate per second ≥ 0 (0 = no limit), got %q", k, v)
			}
		}
	}
	ints := map[string]*int{"SOUK_GATEWAY_BURST": &c.Limits.ClientBurst, "SOUK_GATEWAY_ANON_BURST": &c.Limits.AnonymousBurst,
		"SOUK_GATEWAY_LOGIN_ACCOUNT": &c.Limits.LoginPerAccount, "SOUK_GATEWAY_LOGIN_IP": &c.Limits.LoginPerIP}
	for k, p := range ints {
		if v := getenv(k); v != "" {
			if *p, err = strconv.Atoi(v); err != nil || *p < 0 {
				return c, fmt.Errorf("%s: want an integer ≥ 0, got %q", k, v)
			}
		}
	}
	if v := getenv("SOUK_GATEWAY_MAX_INFLIGHT"); v != "" {
		if c.Limits.MaxInflight, err = strconv.ParseInt(v, 10, 64); err != nil || c.Limits.MaxInflight < 1 {
			return c, fmt.Errorf("SOUK_GATEWAY_MAX_INFLIGHT: want a positive integer, got %q", v)
		}
	}
	if v := getenv("SOUK_GATEWAY_TRUSTED_PROXIES"); v != "" {
		if c.Limits.TrustedProxies, err = ParsePrefixes(v); err != nil {
			return c, fmt.Errorf("SOUK_GATEWAY_TRUSTED_PROXIES: %w", err)
		}
	}
	if v := getenv("SOUK_GATEWAY_METRICS_FROM"); v != "" {
		if c.Limits.MetricsFrom, err = ParsePrefixes(v); err != nil {
			return c, fmt.Errorf("SOUK_GATEWAY_METRICS_FROM: %w", err)
		}
	}
	if v := getenv("SOUK_GATEWAY_PAGE_TIMEOUT"); v != "" {
		if c.PageTimeout, err = time.ParseDuration(v); err != nil || c.PageTimeout <= 0 {
			return c, fmt.Errorf("SOUK_GATEWAY_PAGE_TIMEOUT: want a duration like 800ms, got %q", v)
		}
	}
	return c, nil
}

// Run runs the gateway until ctx is done.
func Run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := boot.ConfigFromEnv("gateway", getenv)
	if err != nil {
		return err
	}
	gcfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	table := DefaultRoutes()
	if gcfg.RoutesFile != "" {
		if table, err = LoadRoutes(gcfg.RoutesFile); err != nil {
			return err
		}
	} else if err := table.prepare(); err != nil {
		return err
	}
	in, err := boot.Start(ctx, cfg, boot.Spec{}, stderr)
	if err != nil {
		return err
	}
	g := &Gateway{
		ups:       newUpstreams(in.Registry),
		verifier:  in.Verifier,
		limits:    gcfg.Limits,
		log:       in.Log,
		access:    newAccessLog(stderr, cfg.Service, cfg.Instance),
		metrics:   newMetrics(in.Metrics),
		clients:   newLimiterSet(gcfg.Limits.ClientRate, gcfg.Limits.ClientBurst),
		anonymous: newLimiterSet(gcfg.Limits.AnonymousRate, gcfg.Limits.AnonymousBurst),
		loginIP:   newLimiterSet(float64(gcfg.Limits.LoginPerIP)/60, gcfg.Limits.LoginPerIP),
		loginAcct: newLimiterSet(float64(gcfg.Limits.LoginPerAccount)/60, gcfg.Limits.LoginPerAccount),
	}
	if g.logins, err = newLoginCounter(ctx, in.JS, LoginBucket, cfg.StreamReplicas); err != nil {
		return err
	}
	in.Metrics.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "souk_gateway_login_limit_fallbacks_total",
		Help: "Login limit checks decided by this instance alone because the shared count could not be reached.",
	}, func() float64 { return float64(g.loginFallbacks.Load()) }))
	g.routes.Store(&table)
	d := &deps{rpc: in.RPC, reg: in.Registry, bus: in.Bus, pageTimeout: gcfg.PageTimeout, parts: workers.New(256, time.Minute), breakers: g.ups.breakers}
	ops := fasthttpadaptor.NewFastHTTPHandler(in.Handler(http.NotFoundHandler()))
	g.serveOps = ops
	site := fasthttpadaptor.NewFastHTTPHandler(web.Handler())
	g.handlers = map[string]func(*fasthttp.RequestCtx, *request){
		"health":            d.health,
		"product_page":      d.productPage,
		"openapi":           serveOpenAPI,
		"admin_status":      d.status,
		"admin_kill":        d.kill,
		"admin_dlq":         d.deadLetters,
		"admin_dlq_redrive": d.redrive,
		"web":               func(ctx *fasthttp.RequestCtx, _ *request) { site(ctx) },
	}

	stop := make(chan struct{})
	defer close(stop)
	go g.access.run(stop)
	if gcfg.RoutesFile != "" {
		in.Go(g.watchRoutes(gcfg.RoutesFile))
	}
	in.Go(g.evictLimiters)

	return in.RunServer(ctx, fastServer{newServer(g, in.Log)})
}

// newServer is the gateway's fasthttp server.
func newServer(g *Gateway, log *slog.Logger) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:               g.handle,
		ErrorHandler:          g.serverError,
		Name:                  "souk",
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           120 * time.Second,
		MaxRequestBodySize:    1 << 20,
		ReadBufferSize:        16 << 10,
		NoDefaultServerHeader: true,
		CloseOnShutdown:       true,
		Logger:                slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// fastServer adapts *fasthttp.Server to boot.Server.
type fastServer struct{ *fasthttp.Server }

func (s fastServer) Shutdown(ctx context.Context) error { return s.ShutdownWithContext(ctx) }

// serverError answers what fasthttp rejects before the handler runs
// (oversized body or headers, malformed request) with problem+json.
func (g *Gateway) serverError(ctx *fasthttp.RequestCtx, err error) {
	var e *fault.Error
	switch {
	case err == fasthttp.ErrBodyTooLarge:
		e = fault.New(fault.TooLarge, "", "the body is larger than 1 MiB")
	case isTooBigHeader(err):
		e = fault.New(fault.HeadersTooLarge, "", "the request headers are too large")
	default:
		e = fault.New(fault.Invalid, "malformed_request", "the request could not be parsed")
	}
	// The handler never ran: give the answer its request id, headers and
	// access log line here.
	r := request{id: telemetry.NewRequestID(), start: time.Now(), ip: peerAddr(ctx)}
	g.fail(ctx, &r, e)
	g.finish(ctx, &r)
}

func isTooBigHeader(err error) bool {
	_, ok := err.(*fasthttp.ErrSmallBuffer)
	return ok
}

// watchRoutes reloads the routes file when it changes; a file that does not
// parse is logged and the running table kept.
func (g *Gateway) watchRoutes(path string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var last time.Time
		if st, err := os.Stat(path); err == nil {
			last = st.ModTime()
		}
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			st, err := os.Stat(path)
			if err != nil || st.ModTime().Equal(last) {
				continue
			}
			last = st.ModTime()
			table, err := LoadRoutes(path)
			if err != nil {
				g.log.Error("routes file rejected; keeping the running table", "path", path, "err", err)
				continue
			}
			g.routes.Store(&table)
			g.log.Info("routes reloaded", "path", path, "routes", len(table.Routes))
		}
	}
}

// evictLimiters drops idle rate-limit buckets every minute.
func (g *Gateway) evictLimiters(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			cutoff := now.Add(-2 * time.Minute)
			for _, s := range []*limiterSet{g.clients, g.anonymous, g.loginIP, g.loginAcct} {
				s.evict(cutoff)
			}
		}
	}
}
