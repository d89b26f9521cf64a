package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"sigs.k8s.io/yaml"

	"github.com/souk/souk/platform/boot"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/services"
	"github.com/souk/souk/services/auth"
	"github.com/souk/souk/services/catalog"
	"github.com/souk/souk/services/gateway"
	"github.com/souk/souk/services/inventory"
	"github.com/souk/souk/services/notification"
	"github.com/souk/souk/services/order"
	"github.com/souk/souk/services/payment"
	"github.com/souk/souk/services/recommendation"
	"github.com/souk/souk/services/user"
	"github.com/souk/souk/services/warehouse"
)

// composeFile is the part of the Compose specification the tests read.
type composeFile struct {
	Name     string                    `json:"name"`
	Services map[string]composeService `json:"services"`
	Volumes  map[string]any            `json:"volumes"`
}

type composeService struct {
	Image string `json:"image"`
	Build *struct {
		Context    string `json:"context"`
		Dockerfile string `json:"dockerfile"`
	} `json:"build"`
	Command     []string          `json:"command"`
	EnvFile     []string          `json:"env_file"`
	Environment map[string]string `json:"environment"`
	Ports       []string          `json:"ports"`
	Volumes     []string          `json:"volumes"`
	DependsOn   map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on"`
	Healthcheck *struct {
		Test []string `json:"test"`
	} `json:"healthcheck"`
	Deploy *struct {
		Replicas *int `json:"replicas"`
	} `json:"deploy"`
	ReadOnly bool `json:"read_only"`
}

var composeVar = regexp.MustCompile(`\$\{([A-Z_]+):-([^}]*)\}`)

// interpolate expands ${VAR:-default} as Compose does with VAR unset.
func interpolate(s string) string {
	return composeVar.ReplaceAllString(s, "$2")
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c
}

// readEnvFile reads a KEY=VALUE file as Compose's env_file does.
func readEnvFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: not KEY=VALUE", path, i+1)
		}
		env[k] = v
	}
	return env, nil
}

// soukContainers are the compose services that run the Souk image, with
// the environment each gets (env files, then environment on top).
func soukContainers(t *testing.T, c composeFile) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for name, s := range c.Services {
		if s.Build == nil && !strings.HasPrefix(interpolate(s.Image), "souk") {
			continue
		}
		env := map[string]string{}
		for _, f := range s.EnvFile {
			fileEnv, err := readEnvFile(interpolate(f))
			if err != nil {
				t.Fatalf("compose %s: %v", name, err)
			}
			maps(env, fileEnv)
		}
		maps(env, s.Environment)
		out[name] = env
	}
	return out
}

func TestCompose(t *testing.T) {
	c := readCompose(t)
	containers := soukContainers(t, c)
	dbs := mustParseInitdb(t)
	instances := map[string]string{}
	served := map[string]bool{}
	for _, name := range sortedKeys(containers) {
		s, env := c.Services[name], containers[name]
		errorf := func(format string, args ...any) {
			t.Helper()
			t.Errorf("compose %s: "+format, append([]any{name}, args...)...)
		}
		if s.Build == nil || interpolate(s.Image) == "" {
			errorf("want both build (the Dockerfile) and image (one tag for every service)")
		} else {
			for _, p := range []string{s.Build.Context, filepath.Join(s.Build.Context, s.Build.Dockerfile)} {
				if _, err := os.Stat(p); err != nil {
					errorf("build: %v", err)
				}
			}
		}
		if len(s.Command) != 2 || s.Command[0] != "serve" || !slices.Contains(serviceNames(), s.Command[1]) {
			errorf("command %q, want [serve <service>]", s.Command)
			continue
		}
		service := s.Command[1]
		served[service] = true
		if s.Healthcheck != nil {
			errorf("has a healthcheck, but the distroless image has nothing to run one with")
		}
		if s.Deploy != nil && s.Deploy.Replicas != nil && *s.Deploy.Replicas > 1 {
			errorf("deploy.replicas %d: replicas would share one advertise address", *s.Deploy.Replicas)
		}
		if !s.ReadOnly {
			errorf("root filesystem is writable (read_only: true, as in Kubernetes)")
		}
		if got, want := env["SOUK_ADVERTISE_ADDR"], name+":8080"; got != want {
			errorf("SOUK_ADVERTISE_ADDR %q, want %q (its own compose name)", got, want)
		}
		if prev, ok := instances[env["SOUK_INSTANCE"]]; ok || env["SOUK_INSTANCE"] == "" {
			errorf("SOUK_INSTANCE %q is empty or also %s's", env["SOUK_INSTANCE"], prev)
		}
		instances[env["SOUK_INSTANCE"]] = name
		getenv := func(k string) string { return env[k] }
		cfg, err := boot.ConfigFromEnv(service, getenv)
		if err != nil {
			errorf("environment does not validate: %v", err)
			continue
		}
		if service == services.Gateway {
			if _, err := gateway.ConfigFromEnv(getenv); err != nil {
				errorf("gateway settings: %v", err)
			}
			if !slices.ContainsFunc(s.Ports, func(p string) bool { return strings.HasSuffix(p, ":8080:8080") || p == "8080:8080" }) {
				errorf("ports %q: the gateway must be published on 8080", s.Ports)
			}
		}
		if cfg.HTTPAddr != "0.0.0.0:8080" {
			errorf("listens on %q, want 0.0.0.0:8080", cfg.HTTPAddr)
		}
		u, err := url.Parse(cfg.NATSURL)
		if err != nil {
			errorf("SOUK_NATS_URL: %v", err)
		} else if nats, ok := c.Services[u.Hostname()]; !ok || !slices.Contains(nats.Command, "-js") {
			errorf("SOUK_NATS_URL %s: no compose service %s running JetStream (-js)", u, u.Hostname())
		}
		for _, dep := range []string{u.Hostname()} {
			if s.DependsOn[dep].Condition != "service_healthy" {
				errorf("does not wait for %s to be healthy", dep)
			}
		}
		if hasDatabase(service) {
			if err := checkDSN(dbs, service, cfg.DatabaseURL); err != nil {
				errorf("%s: %v", databaseVar(service), err)
			}
			db, _ := url.Parse(cfg.DatabaseURL)
			if pg, ok := c.Services[db.Hostname()]; !ok || !slices.Contains(pg.Volumes, "./compose/initdb.sql:/docker-entrypoint-initdb.d/initdb.sql:ro") {
				errorf("database host %s: no compose service running compose/initdb.sql", db.Hostname())
			} else if s.DependsOn[db.Hostname()].Condition != "service_healthy" {
				errorf("does not wait for %s to be healthy", db.Hostname())
			}
		} else if cfg.DatabaseURL != "" {
			errorf("has a database URL but no migrations")
		}
		if service == "search" {
			mounted := false
			for _, v := range s.Volumes {
				src, dst, _ := strings.Cut(v, ":")
				_, declared := c.Volumes[src]
				mounted = mounted || (dst == cfg.DataDir && declared)
			}
			if !mounted {
				errorf("keeps its index under SOUK_DATA=%s: want a named volume there (volumes %q)", cfg.DataDir, s.Volumes)
			}
		}
	}
	var got []string
	for s := range served {
		got = append(got, s)
	}
	if diff := cmp.Diff(sortStrings(serviceNames()), sortStrings(got)); diff != "" {
		t.Errorf("services (-) and services compose runs (+):\n%s", diff)
	}
	if pg := c.Services["postgres"]; !strings.HasPrefix(pg.Image, "postgres:16") {
		t.Errorf("compose postgres image %q, want postgres:16", pg.Image)
	}
	if _, err := os.Stat("compose/initdb.sql"); err != nil {
		t.Error(err)
	}
}

func mustParseInitdb(t *testing.T) map[string]*database {
	t.Helper()
	data, err := os.ReadFile("compose/initdb.sql")
	if err != nil {
		t.Fatal(err)
	}
	dbs, err := parseInitdb(string(data))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, s := range services.All {
		if hasDatabase(s) {
			want = append(want, s)
		}
	}
	if diff := cmp.Diff(sortStrings(want), sortedKeys(dbs)); diff != "" {
		t.Fatalf("services with migrations (-) and databases of compose/initdb.sql (+):\n%s", diff)
	}
	return dbs
}

// TestInitdbOnPostgres replays the init script on a real PostgreSQL under
// fresh names, then runs every service's migrations as that service's own
// role (the owner of its database, not a superuser), and checks that a
// role cannot open another service's database.
func TestInitdbOnPostgres(t *testing.T) {
	admin := os.Getenv("SOUK_TEST_POSTGRES")
	if admin == "" {
		t.Skip("SOUK_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable): the init script is checked by parsing only")
	}
	migrations := map[string]fs.FS{
		"auth": auth.Migrations(), "user": user.Migrations(), "catalog": catalog.Migrations(),
		"inventory": inventory.Migrations(), "order": order.Migrations(), "payment": payment.Migrations(),
		"notification": notification.Migrations(), "warehouse": warehouse.Migrations(), "recommendation": recommendation.Migrations(),
	}
	dbs := mustParseInitdb(t)
	if diff := cmp.Diff(sortedKeys(dbs), sortedKeys(migrations)); diff != "" {
		t.Fatalf("databases (-) and migrations this test knows (+):\n%s", diff)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect %s: %v", admin, err)
	}
	// Registered first, so it runs after the drops below.
	t.Cleanup(func() { conn.Close(context.Background()) })

	var b [4]byte
	_, _ = rand.Read(b[:])
	suffix := "_t" + hex.EncodeToString(b[:])
	rename := func(db *database) (role, name string) { return db.Owner + suffix, db.Name + suffix }
	for _, s := range sortedKeys(dbs) {
		role, name := rename(dbs[s])
		t.Cleanup(func() {
			ctx := context.Background()
			if _, err := conn.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, name)); err != nil {
				t.Errorf("drop database %s: %v", name, err)
			}
			if _, err := conn.Exec(ctx, fmt.Sprintf(`DROP ROLE IF EXISTS %s`, role)); err != nil {
				t.Errorf("drop role %s: %v", role, err)
			}
		})
		for _, stmt := range []string{
			fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s'`, role, dbs[s].Password),
			fmt.Sprintf(`CREATE DATABASE %q OWNER %s`, name, role),
			fmt.Sprintf(`REVOKE ALL ON DATABASE %q FROM PUBLIC`, name),
		} {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
	dsn := func(role, password, name string) string {
		u, err := url.Parse(admin)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(role, password)
		u.Path = "/" + name
		return u.String()
	}
	for _, s := range sortedKeys(dbs) {
		role, name := rename(dbs[s])
		db, err := sqlstore.Open(ctx, sqlstore.Options{DSN: dsn(role, dbs[s].Password, name), Name: s, Migrations: migrations[s]})
		if err != nil {
			t.Errorf("%s: migrations as role %s on database %s: %v", s, role, name, err)
			continue
		}
		db.Close()
	}
	// Database per service: order's role cannot open payment's database.
	role, _ := rename(dbs["order"])
	_, other := rename(dbs["payment"])
	if c, err := pgx.Connect(ctx, dsn(role, dbs["order"].Password, other)); err == nil {
		c.Close(ctx)
		t.Errorf("role %s opened database %s", role, other)
	} else if !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("role %s on database %s: got %v, want permission denied", role, other, err)
	}
}
