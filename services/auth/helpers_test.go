package auth

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/sqlstore"
)

// clock is a settable clock shared by a test and the code under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testConfig() Config {
	return Config{TokenTTL: 15 * time.Minute, PublishDelay: 2 * time.Second, Argon2: cheap, MaxHashes: 4}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newService starts a Service on db, as one replica would.
func newService(t *testing.T, db *sqlstore.DB, clk *clock, cfg Config) *Service {
	t.Helper()
	svc, err := NewService(context.Background(), db, clk.Now, cfg, nil, testLogger(t))
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	return svc
}

// serve sends a request to h as p (nil: anonymous).
func serve(h http.Handler, p *authn.Principal, method, path, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if p != nil {
		r = r.WithContext(authn.WithPrincipal(r.Context(), p))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// verifierFor returns a verifier that fetches the JWKS from h, as the other
// services do.
func verifierFor(h http.Handler, clk *clock) *authn.Verifier {
	return authn.NewVerifier(authn.Options{
		JWKS: func(context.Context) ([]byte, error) {
			return serve(h, nil, http.MethodGet, "/.well-known/jwks.json", "").Body.Bytes(), nil
		},
		Now: clk.Now,
	})
}

var (
	customer = &authn.Principal{Subject: "u1", Role: authn.RoleCustomer}
	admin    = &authn.Principal{Subject: "a1", Role: authn.RoleAdmin}
	service  = &authn.Principal{Subject: "service:user", Role: authn.RoleService, Service: "user"}
)
