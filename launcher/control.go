package launcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
	"github.com/souk/souk/platform/registry"
)

type control struct {
	srv   *http.Server
	lease *registry.Lease
}

// startControl serves the launcher's API on a free loopback port and
// registers it as the service "launcher".
func startControl(ctx context.Context, sup *supervisor, reg *registry.Registry, secret []byte, log *slog.Logger) (*control, error) {
	v := authn.NewVerifier(authn.Options{ServiceSecret: secret})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /instances", func(w http.ResponseWriter, r *http.Request) {
		httpapi.JSON(w, http.StatusOK, map[string]any{"instances": sup.list()})
	})
	mux.HandleFunc("POST /instances/{id}/kill", func(w http.ResponseWriter, r *http.Request) {
		info, ok := sup.kill(r.PathValue("id"))
		if !ok {
			httpapi.Error(w, r, log, fault.NotFoundf("no running instance %q", r.PathValue("id")))
			return
		}
		httpapi.JSON(w, http.StatusOK, info)
	})
	mux.HandleFunc("POST /instances/{id}/stop", func(w http.ResponseWriter, r *http.Request) {
		info, ok := sup.hold(r.PathValue("id"))
		if !ok {
			httpapi.Error(w, r, log, fault.NotFoundf("no instance %q", r.PathValue("id")))
			return
		}
		httpapi.JSON(w, http.StatusOK, info)
	})
	mux.HandleFunc("POST /instances/{id}/start", func(w http.ResponseWriter, r *http.Request) {
		info, ok := sup.release(r.PathValue("id"))
		if !ok {
			httpapi.Error(w, r, log, fault.NotFoundf("no instance %q", r.PathValue("id")))
			return
		}
		httpapi.JSON(w, http.StatusOK, info)
	})
	onErr := func(w http.ResponseWriter, r *http.Request, err error) { httpapi.Error(w, r, log, err) }
	services := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireService(r.Context(), false); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		mux.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	c := &control{srv: &http.Server{Handler: httpapi.Wrap(v.Middleware(services, onErr), httpapi.Options{Log: log, AccessLevel: slog.LevelDebug}), ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		if err := c.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("control server", "err", err)
		}
	}()
	c.lease, err = reg.Register(ctx, registry.Instance{ID: "launcher", Service: "launcher", Addr: ln.Addr().String(), PID: os.Getpid(), Started: time.Now().UTC()})
	if err != nil {
		c.srv.Close()
		return nil, fmt.Errorf("control: register: %w", err)
	}
	return c, nil
}

func (c *control) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.lease.Close(ctx)
	_ = c.srv.Shutdown(ctx)
}
