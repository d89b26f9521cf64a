package boot

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// checkPprofAddr accepts only a loopback address: the profiles show
// memory contents and cost CPU to take, so they are never for the network.
func checkPprofAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("config: pprof address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("config: pprof address %q: want a loopback address such as 127.0.0.1:6060", addr)
	}
	return nil
}

// pprofHandler serves net/http/pprof on its own mux, so the profiles are
// never reachable through a service's public handler.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// servePprof serves the profiles on Config.PprofAddr until ctx is done.
func (in *Instance) servePprof(ctx context.Context) {
	ServePprof(ctx, in.Config.PprofAddr, in.Log)
}

// ServePprof serves net/http/pprof on addr, which must be a loopback
// address, until ctx is done; `souk up` uses it for the launcher (and its
// embedded broker). A profiling port that cannot be bound is logged, not
// fatal: it is a debugging aid, and the process runs without it.
func ServePprof(ctx context.Context, addr string, log *slog.Logger) {
	if err := checkPprofAddr(addr); err != nil {
		log.Warn("pprof not served", "err", err)
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Warn("pprof not served", "addr", addr, "err", err)
		return
	}
	// No write timeout: a CPU profile or trace streams for as long as its
	// seconds= asks.
	srv := &http.Server{Handler: pprofHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Info("pprof serving", "addr", ln.Addr().String())
}
