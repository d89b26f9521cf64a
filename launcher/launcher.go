package launcher

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/souk/souk/platform/boot"
	"github.com/souk/souk/platform/broker"
	"github.com/souk/souk/platform/registry"
)

// Run starts the system and blocks until ctx is done, then stops it.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Executable == "" {
		return errors.New("launcher: no executable")
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	data, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	cfg.DataDir = data
	for _, dir := range []string{data, filepath.Join(data, "logs")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("data folder: %w", err)
		}
	}
	// The gateway's address is the one fixed port: fail now, clearly, rather
	// than watch the gateway crash-loop on a port someone else holds.
	if ln, err := net.Listen("tcp", cfg.Addr); err != nil {
		return fmt.Errorf("the gateway address %s is not available (is another souk up running?): %w", cfg.Addr, err)
	} else {
		ln.Close()
	}
	out := &lineWriter{w: cfg.Stdout}
	log := slog.New(slog.NewTextHandler(prefixed(out, "launcher"), &slog.HandlerOptions{Level: slog.LevelInfo}))

	secret, err := serviceSecret(data, cfg.Env)
	if err != nil {
		return err
	}

	if addr := envValue(cfg.Env, "SOUK_LAUNCHER_PPROF_ADDR"); addr != "" {
		boot.ServePprof(ctx, addr, log) // the launcher and its embedded broker
	}

	natsURL := cfg.NATSURL
	if natsURL == "" {
		srv, err := broker.StartEmbedded(broker.EmbeddedOptions{
			Dir:        filepath.Join(data, "nats"),
			SyncAlways: cfg.Durability == "strict",
			Logger:     log,
		})
		if err != nil {
			return fmt.Errorf("start broker: %w", err)
		}
		defer srv.Shutdown()
		natsURL = srv.ClientURL()
		log.Info("broker started", "url", natsURL, "store", filepath.Join(data, "nats"))
	}

	nc, js, err := broker.Connect(ctx, natsURL, "launcher", log)
	if err != nil {
		return fmt.Errorf("connect broker: %w", err)
	}
	defer nc.Close()
	reg, err := registry.New(ctx, js, registry.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	if err := reg.Watch(watchCtx); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	if cfg.NATSURL == "" {
		// The embedded broker keeps the registry on disk: entries of a
		// previous run killed without a goodbye are still there, with fresh
		// enough heartbeats to look alive. Every instance of this broker is
		// ours to start, so none of them is.
		for svc, list := range reg.All() {
			for _, in := range list {
				_ = reg.Deregister(ctx, svc, in.ID)
			}
		}
	}

	set := map[string]string{
		"SOUK_NATS_URL":       natsURL,
		"SOUK_DATA":           data,
		"SOUK_SERVICE_SECRET": secret,
		"SOUK_DURABILITY":     cfg.Durability,
	}
	// On one machine every client is local: the gateway believes
	// X-Forwarded-For from loopback peers, so a load generator can present
	// many clients (and per-client limits apply to each).
	if !hasEnv(cfg.Env, "SOUK_GATEWAY_TRUSTED_PROXIES") {
		set["SOUK_GATEWAY_TRUSTED_PROXIES"] = "127.0.0.1/32,::1/128"
	}
	// Every process would size its Go scheduler to the whole machine, so a
	// dozen of them spin and wake each other on cores they share: run
	// each on a share of the cores instead (GOMAXPROCS, or
	// SOUK_<SERVICE>_GOMAXPROCS for one service, still decide).
	// The gateway, which every request goes through, keeps the whole
	// machine: on one P it fell from 0.82× to 0.65× nginx's throughput
	// (bench/gateway.sh, 3 rounds each).
	if !hasEnv(cfg.Env, "GOMAXPROCS") {
		set["GOMAXPROCS"] = strconv.Itoa(ChildProcs(runtime.NumCPU()))
		if !hasEnv(cfg.Env, "SOUK_GATEWAY_GOMAXPROCS") {
			set["SOUK_GATEWAY_GOMAXPROCS"] = strconv.Itoa(runtime.NumCPU())
		}
	}
	// Children run in the data folder: a routes file named relative to
	// where souk up was started must still be found.
	if v := envValue(cfg.Env, "SOUK_GATEWAY_ROUTES"); v != "" && !filepath.IsAbs(v) {
		if abs, err := filepath.Abs(v); err == nil {
			set["SOUK_GATEWAY_ROUTES"] = abs
		}
	}
	env := childEnv(cfg.Env, set)
	sup := &supervisor{cfg: cfg, env: env, log: log, out: out, reg: reg, procs: map[string]*proc{}, done: make(chan struct{})}
	specs := cfg.instances()
	for _, spec := range specs {
		sup.start(spec)
	}

	ctl, err := startControl(ctx, sup, reg, []byte(secret), log)
	if err != nil {
		sup.stopAll()
		return err
	}
	defer ctl.close()

	if err := waitReady(ctx, reg, sup, cfg.Addr, cfg.ReadyTimeout); err != nil {
		if ctx.Err() == nil {
			log.Error("not ready", "err", err)
		}
		sup.stopAll()
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	fmt.Fprintf(out, "souk ready: gateway http://%s (%d instances of %d services; data %s; logs %s)\n",
		cfg.Addr, len(specs), len(Services), data, filepath.Join(data, "logs"))

	<-ctx.Done()
	fmt.Fprintln(out, "souk stopping")
	sup.stopAll()
	fmt.Fprintln(out, "souk stopped")
	return nil
}

// serviceSecret returns SOUK_SERVICE_SECRET from env, else the one kept in
// <data>/service-secret, created on first start.
func serviceSecret(data string, env []string) (string, error) {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "SOUK_SERVICE_SECRET="); ok && v != "" {
			return v, nil
		}
	}
	path := filepath.Join(data, "service-secret")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), nil
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	s := hex.EncodeToString(b[:])
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("service secret: %w", err)
	}
	return s, nil
}

// ChildProcs is the GOMAXPROCS of each process under souk up (the
// launcher's own too: it runs the embedded broker) on a machine
// of ncpu cores: a quarter of them, at least one. On 2 cores, checkout at
// 250 orders/s cost 6.3–6.8 ms of CPU per order with every process on one
// P against 7.3–8.2 ms with each on both (docs/benchmarks.md).
func ChildProcs(ncpu int) int {
	return max(1, ncpu/4)
}

// envValue is the value of key in env (the last one, as for exec), "" when
// it is not set.
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if val, ok := strings.CutPrefix(kv, key+"="); ok {
			v = val
		}
	}
	return v
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

// childEnv is base with every key of set replaced.
func childEnv(base []string, set map[string]string) []string {
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; ok || k == "SOUK_INSTANCE" || k == "SOUK_HTTP_ADDR" {
			continue
		}
		out = append(out, kv)
	}
	for _, k := range sortedKeys(set) {
		out = append(out, k+"="+set[k])
	}
	return out
}

// waitReady waits until every instance the supervisor started has
// registered itself (with its own pid: not an entry left by an earlier run)
// and the gateway is healthy.
func waitReady(ctx context.Context, reg *registry.Registry, sup *supervisor, gateway string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var missing []string
	for {
		missing = missing[:0]
		for _, p := range sup.list() {
			if !registered(reg, p) {
				missing = append(missing, p.ID)
			}
		}
		if len(missing) == 0 {
			resp, err := client.Get("http://" + gateway + "/health")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
			missing = append(missing, "gateway /health")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", strings.Join(missing, ", "), ctx.Err())
		case <-tick.C:
		}
	}
}

func registered(reg *registry.Registry, p ProcInfo) bool {
	for _, in := range reg.Instances(p.Service) {
		if in.ID == p.ID && p.Running && in.PID == p.PID {
			return true
		}
	}
	return false
}

// lineWriter serialises whole lines from many goroutines onto one writer.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return len(p), nil
	}
	return l.w.Write(p)
}

type prefixWriter struct {
	out    io.Writer
	prefix string
}

func prefixed(out io.Writer, name string) io.Writer {
	return &prefixWriter{out: out, prefix: name + " | "}
}

// Write prefixes every line of b and writes them in one call, so the lines
// of one instance stay together and never interleave with another's.
func (p *prefixWriter) Write(b []byte) (int, error) {
	out := make([]byte, 0, len(b)+len(p.prefix)*(1+bytes.Count(b, []byte{'\n'})))
	for rest := b; len(rest) > 0; {
		n := bytes.IndexByte(rest, '\n') + 1
		if n == 0 {
			n = len(rest)
		}
		out = append(append(out, p.prefix...), rest[:n]...)
		rest = rest[n:]
	}
	_, err := p.out.Write(out)
	return len(b), err
}
