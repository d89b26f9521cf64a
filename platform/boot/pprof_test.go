package boot

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCheckPprofAddr(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:6060", true},
		{"127.0.0.1:0", true},
		{"[::1]:6060", true},
		{"localhost:6060", true},
		{"0.0.0.0:6060", false},
		{":6060", false},
		{"10.0.0.5:6060", false},
		{"example.com:6060", false},
		{"127.0.0.1", false},
	}
	for _, tt := range tests {
		err := checkPprofAddr(tt.addr)
		if got := err == nil; got != tt.ok {
			t.Errorf("checkPprofAddr(%q) = %v, want ok %v", tt.addr, err, tt.ok)
		}
	}
}

func TestConfigPprofAddr(t *testing.T) {
	env := map[string]string{
		"SOUK_NATS_URL":       "nats://127.0.0.1:1",
		"SOUK_SERVICE_SECRET": "0123456789abcdef",
		"SOUK_PPROF_ADDR":     "127.0.0.1:0",
	}
	getenv := func(k string) string { return env[k] }
	c, err := ConfigFromEnv("gateway", getenv)
	if err != nil || c.PprofAddr != "127.0.0.1:0" {
		t.Fatalf("SOUK_PPROF_ADDR: got %q, %v; want 127.0.0.1:0", c.PprofAddr, err)
	}
	env["SOUK_GATEWAY_PPROF_ADDR"] = "127.0.0.1:6061"
	if c, _ = ConfigFromEnv("gateway", getenv); c.PprofAddr != "127.0.0.1:6061" {
		t.Errorf("SOUK_GATEWAY_PPROF_ADDR: got %q, want it to win over SOUK_PPROF_ADDR", c.PprofAddr)
	}
	if c, _ = ConfigFromEnv("order", getenv); c.PprofAddr != "127.0.0.1:0" {
		t.Errorf("order: got %q, want SOUK_PPROF_ADDR", c.PprofAddr)
	}
	env["SOUK_PPROF_ADDR"] = "0.0.0.0:6060"
	if _, err := ConfigFromEnv("order", getenv); err == nil {
		t.Errorf("a non-loopback SOUK_PPROF_ADDR was accepted")
	}
}

func TestPprofHandler(t *testing.T) {
	srv := httptest.NewServer(pprofHandler())
	defer srv.Close()
	for path, want := range map[string]string{"/debug/pprof/": "goroutine", "/debug/pprof/cmdline": "", "/debug/pprof/goroutine?debug=1": "goroutine profile"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		_, _ = io.Copy(&b, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(b.String(), want) {
			t.Errorf("GET %s = %d, body without %q", path, res.StatusCode, want)
		}
	}
}

func TestConfigProcs(t *testing.T) {
	env := map[string]string{
		"SOUK_NATS_URL":           "nats://127.0.0.1:1",
		"SOUK_SERVICE_SECRET":     "0123456789abcdef",
		"SOUK_GATEWAY_GOMAXPROCS": "1",
	}
	getenv := func(k string) string { return env[k] }
	if c, err := ConfigFromEnv("gateway", getenv); err != nil || c.Procs != 1 {
		t.Fatalf("gateway: Procs %d, %v; want 1", c.Procs, err)
	}
	if c, err := ConfigFromEnv("order", getenv); err != nil || c.Procs != 0 {
		t.Errorf("order: Procs %d, %v; want 0 (the setting is the gateway's)", c.Procs, err)
	}
	for _, bad := range []string{"0", "-1", "two", "5000"} {
		env["SOUK_GATEWAY_GOMAXPROCS"] = bad
		if _, err := ConfigFromEnv("gateway", getenv); err == nil {
			t.Errorf("SOUK_GATEWAY_GOMAXPROCS=%q accepted", bad)
		}
	}
}
