package boot

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is what every service instance reads from its environment.
type Config struct {
	Service  string // SOUK_SERVICE or the serve argument: "order"
	Instance string // SOUK_INSTANCE: "order-1"; default "<service>-<random>"
	// HTTPAddr is where the instance listens (SOUK_HTTP_ADDR, default
	// 127.0.0.1:0: a free port chosen by the kernel).
	HTTPAddr string
	// AdvertiseAddr is the host:port registered for callers
	// (SOUK_ADVERTISE_ADDR); default the listener's own address. In a pod it
	// is the pod IP: SOUK_ADVERTISE_HOST names the host alone (an IPv4 or
	// IPv6 address or a name) and takes the port of SOUK_HTTP_ADDR, so an
	// IPv6 pod address needs no brackets in the manifest.
	AdvertiseAddr string
	NATSURL       string // SOUK_NATS_URL
	DataDir       string // SOUK_DATA, default ./.souk
	// DatabaseURL is SOUK_<SERVICE>_DATABASE_URL: a PostgreSQL DSN, or empty
	// for the SQLite file <data>/<service>/<service>.db.
	DatabaseURL string
	Durability  string // SOUK_DURABILITY: normal (default) or strict
	// ServiceSecret signs and verifies service tokens (SOUK_SERVICE_SECRET).
	ServiceSecret string
	// AcceptServiceSecret is a second secret whose service tokens are also
	// accepted, never used to sign (SOUK_SERVICE_SECRET_ACCEPT): rotation
	// without refused calls (docs/deploy.md, "Secrets").
	AcceptServiceSecret string
	LogLevel            string        // SOUK_LOG_LEVEL
	Fault               string        // SOUK_FAULT: test-only fault points, see Faults
	StreamReplicas      int           // SOUK_STREAM_REPLICAS, default 1 (3 on a NATS cluster)
	Lease               time.Duration // SOUK_REGISTRY_LEASE, default 6s
	// PprofAddr, when set, serves net/http/pprof (/debug/pprof/) on this
	// loopback address: SOUK_<SERVICE>_PPROF_ADDR, else SOUK_PPROF_ADDR
	// (":0"-style port 0 picks a free port, logged as "pprof serving").
	// Off by default.
	PprofAddr string
	// Procs, when above 0, sets GOMAXPROCS for this service alone
	// (SOUK_<SERVICE>_GOMAXPROCS): under souk up every process would
	// otherwise take one P per core of the machine they share.
	Procs int
	// ShutdownTimeout bounds the drain of in-flight requests (default 3s, so
	// a whole system stops within the 5 s its launcher promises).
	ShutdownTimeout time.Duration
	// Getenv reads the service's own settings.
	Getenv func(string) string
}

// ConfigFromEnv reads the common settings of service from getenv.
func ConfigFromEnv(service string, getenv func(string) string) (Config, error) {
	c := Config{
		Service:             service,
		Instance:            getenv("SOUK_INSTANCE"),
		HTTPAddr:            getenv("SOUK_HTTP_ADDR"),
		AdvertiseAddr:       getenv("SOUK_ADVERTISE_ADDR"),
		NATSURL:             getenv("SOUK_NATS_URL"),
		DataDir:             getenv("SOUK_DATA"),
		DatabaseURL:         getenv("SOUK_" + strings.ToUpper(service) + "_DATABASE_URL"),
		Durability:          getenv("SOUK_DURABILITY"),
		ServiceSecret:       getenv("SOUK_SERVICE_SECRET"),
		AcceptServiceSecret: getenv("SOUK_SERVICE_SECRET_ACCEPT"),
		LogLevel:            getenv("SOUK_LOG_LEVEL"),
		Fault:               getenv("SOUK_FAULT"),
		StreamReplicas:      1,
		Lease:               6 * time.Second,
		ShutdownTimeout:     3 * time.Second,
		Getenv:              getenv,
	}
	c.PprofAddr = getenv("SOUK_" + strings.ToUpper(service) + "_PPROF_ADDR")
	if c.PprofAddr == "" {
		c.PprofAddr = getenv("SOUK_PPROF_ADDR")
	}
	if v := getenv("SOUK_" + strings.ToUpper(service) + "_GOMAXPROCS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1024 {
			return Config{}, fmt.Errorf("config: SOUK_%s_GOMAXPROCS is %q, want a whole number from 1 to 1024", strings.ToUpper(service), v)
		}
		c.Procs = n
	}
	if c.Instance == "" {
		var b [3]byte
		_, _ = rand.Read(b[:])
		c.Instance = service + "-" + hex.EncodeToString(b[:])
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:0"
	}
	if h := getenv("SOUK_ADVERTISE_HOST"); h != "" {
		if c.AdvertiseAddr != "" {
			return Config{}, fmt.Errorf("config: set SOUK_ADVERTISE_ADDR or SOUK_ADVERTISE_HOST, not both")
		}
		_, port, err := net.SplitHostPort(c.HTTPAddr)
		if err != nil || port == "" || port == "0" {
			return Config{}, fmt.Errorf("config: SOUK_ADVERTISE_HOST takes its port from SOUK_HTTP_ADDR, which has no fixed port (%q)", c.HTTPAddr)
		}
		c.AdvertiseAddr = net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), port)
	}
	if c.DataDir == "" {
		c.DataDir = ".souk"
	}
	if c.Durability == "" {
		c.Durability = "normal"
	}
	if v := getenv("SOUK_STREAM_REPLICAS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return c, fmt.Errorf("SOUK_STREAM_REPLICAS: %w", err)
		}
		c.StreamReplicas = n
	}
	if v := getenv("SOUK_REGISTRY_LEASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return c, fmt.Errorf("SOUK_REGISTRY_LEASE: %w", err)
		}
		c.Lease = d
	}
	return c, c.Validate()
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Service == "":
		return fmt.Errorf("config: no service name")
	case c.NATSURL == "":
		return fmt.Errorf("config: SOUK_NATS_URL is not set (souk up sets it; in a cluster point it at NATS)")
	case len(c.ServiceSecret) < 16:
		return fmt.Errorf("config: SOUK_SERVICE_SECRET must be at least 16 characters (souk up generates one)")
	case c.AcceptServiceSecret != "" && len(c.AcceptServiceSecret) < 16:
		return fmt.Errorf("config: SOUK_SERVICE_SECRET_ACCEPT must be at least 16 characters")
	case c.Durability != "normal" && c.Durability != "strict":
		return fmt.Errorf("config: SOUK_DURABILITY is %q, want normal or strict", c.Durability)
	case c.StreamReplicas < 1 || c.StreamReplicas > 5:
		return fmt.Errorf("config: SOUK_STREAM_REPLICAS is %d, want 1 to 5", c.StreamReplicas)
	case c.Lease < 500*time.Millisecond:
		return fmt.Errorf("config: SOUK_REGISTRY_LEASE is %v, want at least 500ms", c.Lease)
	}
	if c.AdvertiseAddr != "" {
		if _, port, err := net.SplitHostPort(c.AdvertiseAddr); err != nil || port == "" {
			return fmt.Errorf("config: SOUK_ADVERTISE_ADDR %q is not host:port (an IPv6 address goes in brackets, or set SOUK_ADVERTISE_HOST to the address alone)", c.AdvertiseAddr)
		}
	}
	if c.PprofAddr != "" {
		return checkPprofAddr(c.PprofAddr)
	}
	return nil
}

// DatabaseDSN is the PostgreSQL DSN when set, else the service's SQLite path.
func (c Config) DatabaseDSN() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return filepath.Join(c.DataDir, c.Service, c.Service+".db")
}
