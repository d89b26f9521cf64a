package launcher

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Run starts every instance, becomes ready once all have registered and the
// gateway's /health answers, gives children their settings, and stops
// everything when its context ends.
func TestRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	data := t.TempDir()
	out := &syncBuffer{}
	cfg := Config{
		Addr:         addr,
		DataDir:      data,
		Replicas:     map[string]int{"order": 2},
		Executable:   os.Args[0],
		Durability:   "strict",
		Env:          childTestEnv("SOUK_INSTANCE=stale", "SOUK_DATA=/elsewhere", "SOUK_GATEWAY_ROUTES=routes.yaml"),
		Stdout:       out,
		Quiet:        true,
		ReadyTimeout: 60 * time.Second,
	}
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	done := make(chan struct{}) // closed when Run has returned runErr
	go func() {
		defer close(done)
		runErr = Run(ctx, cfg)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitFor(t, "souk ready", 60*time.Second, func() bool {
		select {
		case <-done:
			t.Fatalf("Run returned %v before it was ready; output:\n%s", runErr, out.String())
		default:
		}
		return strings.Contains(out.String(), "souk ready: gateway http://"+addr)
	})

	resp, err := http.Get("http://" + addr + "/env")
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]string
	err = json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	secret, err := os.ReadFile(filepath.Join(data, "service-secret"))
	if err != nil {
		t.Fatal(err)
	}
	natsURL := env["SOUK_NATS_URL"]
	if !strings.HasPrefix(natsURL, "nats://127.0.0.1:") {
		t.Errorf("SOUK_NATS_URL = %q, want the embedded broker", natsURL)
	}
	routes, err := filepath.Abs("routes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"SOUK_INSTANCE":                "gateway-1",
		"SOUK_HTTP_ADDR":               addr,
		"SOUK_DATA":                    data,
		"SOUK_NATS_URL":                natsURL,
		"SOUK_SERVICE_SECRET":          strings.TrimSpace(string(secret)),
		"SOUK_DURABILITY":              "strict",
		"SOUK_GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32,::1/128",
		"cwd":                          data,
		"GOMAXPROCS":                   strconv.Itoa(ChildProcs(runtime.NumCPU())),
		"SOUK_GATEWAY_ROUTES":          routes, // relative to where souk up started, made absolute
	}
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		want["GOMAXPROCS"] = v // the caller's setting wins
	} else {
		want["SOUK_GATEWAY_GOMAXPROCS"] = strconv.Itoa(runtime.NumCPU())
	}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("the gateway's settings (-want +got):\n%s", diff)
	}
	for _, id := range []string{"order-1", "order-2", "auth-1", "gateway-1"} {
		if _, err := os.Stat(filepath.Join(data, "logs", id+".log")); err != nil {
			t.Errorf("log of %s: %v", id, err)
		}
	}

	start := time.Now()
	cancel()
	select {
	case <-done:
		if runErr != nil {
			t.Errorf("Run = %v, want nil after its context ended", runErr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop within 5s")
	}
	t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(out.String(), "souk stopped") {
		t.Errorf("output lacks \"souk stopped\":\n%s", out.String())
	}
	if _, err := http.Get("http://" + addr + "/health"); err == nil {
		t.Error("the gateway still answers after Run returned")
	}
}

func TestRunNeedsAnExecutable(t *testing.T) {
	if err := Run(context.Background(), Config{DataDir: t.TempDir()}); err == nil {
		t.Error("Run without an executable succeeded")
	}
}
