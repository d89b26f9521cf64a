package boot

import (
	"context"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/souk/souk/platform/authn"
)

// validEnv is the environment of a valid configuration (the settings
// ConfigFromEnv requires) with extra on top, and a getenv over it; a test
// may change the map afterwards.
func validEnv(extra map[string]string) (map[string]string, func(string) string) {
	env := map[string]string{"SOUK_NATS_URL": "nats://127.0.0.1:1", "SOUK_SERVICE_SECRET": "0123456789abcdef"}
	maps.Copy(env, extra)
	return env, func(k string) string { return env[k] }
}

func TestConfigAdvertise(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // when ok
		ok   bool
	}{
		{"default: the listener's own", nil, "", true},
		{"an address", map[string]string{"SOUK_ADVERTISE_ADDR": "order:8080"}, "order:8080", true},
		{"an IPv6 address in brackets", map[string]string{"SOUK_ADVERTISE_ADDR": "[fd00::1]:8080"}, "[fd00::1]:8080", true},
		{"an IPv6 address without brackets", map[string]string{"SOUK_ADVERTISE_ADDR": "fd00::1:8080"}, "", false},
		{"no port", map[string]string{"SOUK_ADVERTISE_ADDR": "10.1.2.3"}, "", false},
		{"a host, IPv4", map[string]string{"SOUK_ADVERTISE_HOST": "10.1.2.3", "SOUK_HTTP_ADDR": "0.0.0.0:8080"}, "10.1.2.3:8080", true},
		{"a host, IPv6", map[string]string{"SOUK_ADVERTISE_HOST": "fd00::1:2:3", "SOUK_HTTP_ADDR": "[::]:8080"}, "[fd00::1:2:3]:8080", true},
		{"a host, IPv6 in brackets", map[string]string{"SOUK_ADVERTISE_HOST": "[fd00::1]", "SOUK_HTTP_ADDR": ":8080"}, "[fd00::1]:8080", true},
		{"a host, a name", map[string]string{"SOUK_ADVERTISE_HOST": "order-0.order", "SOUK_HTTP_ADDR": "0.0.0.0:8080"}, "order-0.order:8080", true},
		{"a host with a port chosen by the kernel", map[string]string{"SOUK_ADVERTISE_HOST": "10.1.2.3"}, "", false},
		{"both", map[string]string{"SOUK_ADVERTISE_HOST": "10.1.2.3", "SOUK_ADVERTISE_ADDR": "10.1.2.3:8080", "SOUK_HTTP_ADDR": ":8080"}, "", false},
	}
	for _, tt := range tests {
		_, getenv := validEnv(tt.env)
		c, err := ConfigFromEnv("order", getenv)
		if (err == nil) != tt.ok || (tt.ok && c.AdvertiseAddr != tt.want) {
			t.Errorf("%s: AdvertiseAddr %q, err %v; want %q, ok %v", tt.name, c.AdvertiseAddr, err, tt.want, tt.ok)
		}
	}
}

func TestConfigAcceptServiceSecret(t *testing.T) {
	env, getenv := validEnv(map[string]string{"SOUK_SERVICE_SECRET_ACCEPT": "fedcba9876543210"})
	if c, err := ConfigFromEnv("order", getenv); err != nil || c.AcceptServiceSecret != "fedcba9876543210" {
		t.Fatalf("AcceptServiceSecret %q, %v", c.AcceptServiceSecret, err)
	}
	env["SOUK_SERVICE_SECRET_ACCEPT"] = "short"
	if _, err := ConfigFromEnv("order", getenv); err == nil {
		t.Error("a 5-character SOUK_SERVICE_SECRET_ACCEPT was accepted")
	}
}

// TestVerifierAcceptsRotatedSecret: an instance configured mid-rotation
// accepts the tokens of instances still signing with the other secret.
func TestVerifierAcceptsRotatedSecret(t *testing.T) {
	cfg := Config{ServiceSecret: "new-secret-0123456789", AcceptServiceSecret: "old-secret-0123456789"}
	v := authn.NewVerifier(verifierOptions(cfg, Spec{}, slog.New(slog.DiscardHandler)))
	for _, secret := range []string{cfg.ServiceSecret, cfg.AcceptServiceSecret} {
		tok, err := authn.SignService([]byte(secret), "payment", time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("a token signed with %q: %v", secret, err)
		}
	}
}

func TestConfigPprofAddr(t *testing.T) {
	env, getenv := validEnv(map[string]string{"SOUK_PPROF_ADDR": "127.0.0.1:0"})
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

func TestConfigProcs(t *testing.T) {
	env, getenv := validEnv(map[string]string{"SOUK_GATEWAY_GOMAXPROCS": "1"})
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
