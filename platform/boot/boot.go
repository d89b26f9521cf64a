package boot

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/broker"
	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/faultinject"
	"github.com/souk/souk/platform/httpapi"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/registry"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/telemetry"
)

// Spec is what a service asks of Start.
type Spec struct {
	// Migrations are the service's SQL migrations; nil means the service
	// has no database.
	Migrations fs.FS
	// Publishes is true when the service publishes events: Start ensures
	// its stream.
	Publishes bool
	// Keys, when set, replaces the JWKS fetch for verifying user tokens
	// (the auth service verifies with its own keys).
	Keys func(kid string) (ed25519.PublicKey, bool)
}

// Instance is a started service instance and everything it is wired to.
type Instance struct {
	Config   Config
	Log      *slog.Logger
	Metrics  *prometheus.Registry
	NC       *nats.Conn
	JS       jetstream.JetStream
	Registry *registry.Registry
	Bus      *events.Bus
	DB       *sqlstore.DB // nil without migrations
	RPC      *rpc.Client
	Verifier *authn.Verifier
	Tokens   *authn.ServiceTokens
	Faults   *faultinject.Points

	stop    context.CancelFunc // ends the registry watch
	workers []func(context.Context) error
}

// Start connects the instance to its dependencies. The logger writes JSON to
// stderr.
func Start(ctx context.Context, cfg Config, spec Spec, stderr io.Writer) (*Instance, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := telemetry.NewLogger(stderr, telemetry.ParseLevel(cfg.LogLevel), cfg.Service, cfg.Instance)
	if cfg.Procs > 0 {
		runtime.GOMAXPROCS(cfg.Procs)
	}
	in := &Instance{Config: cfg, Log: log}
	var err error
	if in.Faults, err = faultinject.Parse(cfg.Fault, filepath.Join(cfg.DataDir, "faults")); err != nil {
		return nil, err
	}
	in.Metrics = prometheus.NewRegistry()
	in.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if in.NC, in.JS, err = broker.Connect(ctx, cfg.NATSURL, cfg.Instance, log); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Service, err)
	}
	watchCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	in.stop = stop
	fail := func(err error) (*Instance, error) {
		in.close()
		return nil, fmt.Errorf("start %s: %w", cfg.Service, err)
	}
	if in.Registry, err = registry.New(ctx, in.JS, registry.Options{Lease: cfg.Lease, Replicas: cfg.StreamReplicas, Logger: log}); err != nil {
		return fail(err)
	}
	if err := in.Registry.Watch(watchCtx); err != nil {
		return fail(err)
	}
	in.Bus = events.NewBus(in.NC, in.JS, events.Options{Replicas: cfg.StreamReplicas, Logger: log, Faults: in.Faults, Metrics: in.Metrics})
	if spec.Publishes {
		if err := in.Bus.EnsureStream(ctx, cfg.Service); err != nil {
			return fail(err)
		}
	}
	if spec.Migrations != nil {
		dsn := cfg.DatabaseDSN()
		if cfg.DatabaseURL == "" {
			if err := os.MkdirAll(filepath.Dir(dsn), 0o755); err != nil {
				return fail(err)
			}
		}
		durability := sqlstore.Normal
		if cfg.Durability == "strict" {
			durability = sqlstore.Strict
		}
		in.DB, err = sqlstore.Open(ctx, sqlstore.Options{DSN: dsn, Name: cfg.Service, Migrations: spec.Migrations, Durability: durability, Logger: log})
		if err != nil {
			return fail(err)
		}
		registerDBMetrics(in.Metrics, in.DB)
	}
	in.Tokens = authn.NewServiceTokens([]byte(cfg.ServiceSecret), cfg.Service, 10*time.Minute, nil)
	in.RPC = rpc.New(rpc.Options{
		Resolver: in.Registry,
		Token:    in.Tokens.Authorization,
		Logger:   log,
		Metrics:  in.Metrics,
		Caller:   cfg.Service,
	})
	vopts := verifierOptions(cfg, spec, log)
	if spec.Keys == nil {
		vopts.JWKS = in.fetchJWKS
	}
	in.Verifier = authn.NewVerifier(vopts)
	return in, nil
}

// verifierOptions are the token verifier's settings from cfg and spec,
// but for the JWKS fetch, which needs the instance.
func verifierOptions(cfg Config, spec Spec, log *slog.Logger) authn.Options {
	return authn.Options{
		ServiceSecret:       []byte(cfg.ServiceSecret),
		AcceptServiceSecret: []byte(cfg.AcceptServiceSecret), // empty: none
		Logger:              log,
		Keys:                spec.Keys,
	}
}

func (in *Instance) fetchJWKS(ctx context.Context) ([]byte, error) {
	var raw jsonRaw
	err := in.RPC.Do(ctx, "auth", rpc.Call{Method: "GET", Path: "/.well-known/jwks.json", Idempotent: true}, &raw)
	return raw, err
}

type jsonRaw []byte

func (r *jsonRaw) UnmarshalJSON(b []byte) error { *r = append((*r)[:0], b...); return nil }

// Go adds a background worker run by Run for the life of the instance. A
// worker returns nil when its context ends; any other return ends the
// instance.
func (in *Instance) Go(worker func(ctx context.Context) error) {
	in.workers = append(in.workers, worker)
}

// Server is what Run serves: *http.Server fits through HTTPServer, and the
// gateway's fasthttp server through its own adapter.
type Server interface {
	Serve(ln net.Listener) error
	Shutdown(ctx context.Context) error
}

// Handler wraps a service's routes with the shared middleware, token
// verification, and the health and metrics endpoints.
func (in *Instance) Handler(routes http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health/live", func(w http.ResponseWriter, r *http.Request) {
		httpapi.JSON(w, http.StatusOK, map[string]string{"status": "alive", "instance": in.Config.Instance})
	})
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, r *http.Request) {
		if err := in.Ready(r.Context()); err != nil {
			httpapi.JSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
		httpapi.JSON(w, http.StatusOK, map[string]string{"status": "ready", "instance": in.Config.Instance})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(in.Metrics, promhttp.HandlerOpts{}))
	onErr := func(w http.ResponseWriter, r *http.Request, err error) { httpapi.Error(w, r, in.Log, err) }
	inner := httpapi.Routes(routes)
	if in.Faults.Enabled() {
		plain := inner
		inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			plain.ServeHTTP(w, r)
			if r.Pattern != "" {
				_ = in.Faults.Hit(in.Config.Service + ".after " + r.Pattern)
			}
		})
	}
	mux.Handle("/", in.Verifier.Middleware(inner, onErr))
	return httpapi.Wrap(mux, httpapi.Options{Log: in.Log, AccessLevel: slog.LevelDebug, Metrics: in.Metrics})
}

// Ready reports why the instance cannot serve, or nil.
func (in *Instance) Ready(ctx context.Context) error {
	if !in.NC.IsConnected() {
		return errors.New("broker disconnected")
	}
	if in.DB != nil {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := in.DB.Ping(ctx); err != nil {
			return fmt.Errorf("database: %w", err)
		}
	}
	return nil
}

// Run serves routes over HTTP until ctx is done; see the package doc for the
// order of things.
func (in *Instance) Run(ctx context.Context, routes http.Handler) error {
	srv := &http.Server{
		Handler:           in.Handler(routes),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(in.Log.Handler(), slog.LevelWarn),
	}
	return in.RunServer(ctx, srv)
}

// RunServer is Run for any Server.
func (in *Instance) RunServer(ctx context.Context, srv Server) error {
	defer in.close()
	ln, err := net.Listen("tcp", in.Config.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", in.Config.HTTPAddr, err)
	}
	addr := in.Config.AdvertiseAddr
	if addr == "" {
		addr = ln.Addr().String()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var wg sync.WaitGroup
	workErr := make(chan error, len(in.workers))
	for _, w := range in.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w(workCtx); err != nil && workCtx.Err() == nil {
				workErr <- err
			}
		}()
	}

	if in.Config.PprofAddr != "" {
		in.servePprof(workCtx)
	}
	lease, err := in.register(ctx, addr)
	if err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.Config.ShutdownTimeout)
		defer cancel()
		if ctx.Err() != nil {
			// Stopped while registering: a normal stop, but the put may
			// have reached the broker before the answer was given up on.
			if derr := in.Registry.Deregister(dctx, in.Config.Service, in.Config.Instance); derr != nil {
				in.Log.Warn("deregister", "err", derr)
			}
			err = nil
		}
		_ = srv.Shutdown(dctx)
		stopWork()
		wg.Wait()
		return err
	}
	in.Log.Info("serving", "addr", addr, "pid", os.Getpid())

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("serve: %w", err)
	case err := <-workErr:
		runErr = fmt.Errorf("worker: %w", err)
	}
	// Leave the registry first so no new calls arrive, then drain.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.Config.ShutdownTimeout)
	defer cancel()
	if err := lease.Close(dctx); err != nil {
		in.Log.Warn("deregister", "err", err)
	}
	if err := srv.Shutdown(dctx); err != nil {
		in.Log.Warn("drain", "err", err)
	}
	stopWork()
	wg.Wait()
	in.Log.Info("stopped")
	return runErr
}

// register waits until the instance is ready, then puts its lease.
func (in *Instance) register(ctx context.Context, addr string) (*registry.Lease, error) {
	for {
		err := in.Ready(ctx)
		if err == nil {
			break
		}
		in.Log.Warn("not ready yet", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	lease, err := in.Registry.Register(ctx, registry.Instance{
		ID:      in.Config.Instance,
		Service: in.Config.Service,
		Addr:    addr,
		PID:     os.Getpid(),
		Started: time.Now().UTC(),
	})
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	return lease, nil
}

func (in *Instance) close() {
	if in.stop != nil {
		in.stop()
	}
	if in.DB != nil {
		_ = in.DB.Close()
	}
	if in.NC != nil {
		_ = in.NC.Drain()
	}
}

// Outbox starts a relay of the platform outbox table to the broker for the
// life of the instance and returns it; call its Notify after a commit that
// added events.
func (in *Instance) Outbox() *outbox.Relay {
	table := outbox.Table{DB: in.DB}
	return in.relay(table, table.Prune)
}

// RelayFrom is Outbox for a service whose outbox is its own table (the
// order service's event store).
func (in *Instance) RelayFrom(src outbox.Source) *outbox.Relay {
	return in.relay(src, nil)
}

func (in *Instance) relay(src outbox.Source, prune func(context.Context, time.Time) error) *outbox.Relay {
	r := outbox.NewRelay(src, in.Bus, outbox.Options{Logger: in.Log, Prune: prune, Faults: in.Faults, Name: in.Config.Service})
	in.Go(r.Run)
	return r
}
