package authn

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/souk/souk/platform/fault"
)

type fixture struct {
	now     time.Time
	key     SigningKey
	secret  []byte
	fetches atomic.Int32
	v       *Verifier
	keys    []SigningKey
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), secret: []byte("0123456789abcdef0123456789abcdef")}
	k, err := NewSigningKey(f.now)
	if err != nil {
		t.Fatal(err)
	}
	f.key = k
	f.keys = []SigningKey{k}
	f.v = NewVerifier(Options{
		JWKS: func(context.Context) ([]byte, error) {
			f.fetches.Add(1)
			return json.Marshal(PublicJWKS(f.keys))
		},
		ServiceSecret: f.secret,
		Now:           func() time.Time { return f.now },
	})
	return f
}

func (f *fixture) user(t *testing.T, role string, ttl time.Duration) string {
	t.Helper()
	tok, err := SignUser(f.key, "u1", "a@example.com", "Ada", role, f.now, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifyUserToken(t *testing.T) {
	f := newFixture(t)
	tok := f.user(t, RoleCustomer, 15*time.Minute)
	p, err := f.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.Subject != "u1" || p.Email != "a@example.com" || p.Role != RoleCustomer || p.IsAdmin() || p.IsService() {
		t.Fatalf("principal = %+v", p)
	}
	// Cached: the second verification does not fetch again.
	if _, err := f.v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if got := f.fetches.Load(); got != 1 {
		t.Errorf("jwks fetches = %d, want 1", got)
	}
	// Expiry applies to cached tokens too.
	f.now = f.now.Add(16 * time.Minute)
	if _, err := f.v.Verify(context.Background(), tok); !fault.HasCode(err, "token_expired") {
		t.Errorf("expired cached token: err = %v", err)
	}
}

func TestRejects(t *testing.T) {
	f := newFixture(t)
	good := f.user(t, RoleCustomer, time.Minute)
	parts := strings.Split(good, ".")

	other, _ := NewSigningKey(f.now)
	foreign, _ := SignUser(SigningKey{ID: f.key.ID, Private: other.Private}, "u1", "", "", RoleAdmin, f.now, time.Minute)

	// Tampered payload: claim admin without re-signing.
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"customer"`, `"admin"`, 1))) + "." + parts[2]

	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."

	wrongAud := func() string {
		c := UserClaims{RegisteredClaims: jwt.RegisteredClaims{Issuer: Issuer, Subject: "u1", Audience: jwt.ClaimStrings{"elsewhere"}, ExpiresAt: jwt.NewNumericDate(f.now.Add(time.Minute))}, Role: RoleCustomer}
		tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tk.Header["kid"] = f.key.ID
		s, _ := tk.SignedString(f.key.Private)
		return s
	}()
	expired, _ := SignUser(f.key, "u1", "", "", RoleCustomer, f.now.Add(-time.Hour), time.Minute)
	// A service-issued HS256 token signed with the wrong secret.
	badService, _ := SignService([]byte("ffffffffffffffffffffffffffffffff"), "order", f.now, time.Minute)
	// An HS256 token that claims the user issuer (alg confusion attempt).
	confused := func() string {
		c := UserClaims{RegisteredClaims: jwt.RegisteredClaims{Issuer: Issuer, Subject: "u1", Audience: jwt.ClaimStrings{Audience}, ExpiresAt: jwt.NewNumericDate(f.now.Add(time.Minute))}, Role: RoleAdmin}
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(f.secret)
		return s
	}()
	for name, tok := range map[string]string{
		"tampered": tampered, "alg none": none, "wrong audience": wrongAud, "expired": expired,
		"foreign key": foreign, "bad service secret": badService, "alg confusion": confused,
		"garbage": "not.a.token", "empty": "", "huge": strings.Repeat("a", 5000),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.v.Verify(context.Background(), tok)
			if !fault.Is(err, fault.Unauthorized) {
				t.Fatalf("err = %v, want Unauthorized", err)
			}
		})
	}
}

func TestServiceTokens(t *testing.T) {
	f := newFixture(t)
	st := NewServiceTokens(f.secret, "order", 10*time.Minute, func() time.Time { return f.now })
	h := st.Authorization(context.Background())
	if h2 := st.Authorization(context.Background()); h2 != h {
		t.Error("token not reused")
	}
	tok, ok := BearerToken(h)
	if !ok {
		t.Fatalf("header %q", h)
	}
	p, err := f.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !p.IsService() || p.Service != "order" || p.IsAdmin() {
		t.Fatalf("principal = %+v", p)
	}
	if _, err := RequireService(WithPrincipal(context.Background(), p), false); err != nil {
		t.Error(err)
	}
	if _, err := RequireUser(WithPrincipal(context.Background(), p)); err == nil {
		t.Error("a service is not a user")
	}
	// Renewed after half its life.
	f.now = f.now.Add(6 * time.Minute)
	if st.Authorization(context.Background()) == h {
		t.Error("token not renewed")
	}
}

func TestKeyRotation(t *testing.T) {
	f := newFixture(t)
	old := f.user(t, RoleCustomer, 15*time.Minute)
	if _, err := f.v.Verify(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	// Rotate: publish a new key beside the old one and sign with it.
	newKey, _ := NewSigningKey(f.now)
	f.keys = append(f.keys, newKey)
	f.key = newKey
	f.now = f.now.Add(2 * time.Second)
	fresh := f.user(t, RoleCustomer, 15*time.Minute)
	if _, err := f.v.Verify(context.Background(), fresh); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if _, err := f.v.Verify(context.Background(), old); err != nil {
		t.Fatalf("token of the old key after rotation: %v", err)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	f := newFixture(t)
	f.v = NewVerifier(Options{JWKS: func(context.Context) ([]byte, error) { return nil, errors.New("auth down") }, Now: func() time.Time { return f.now }})
	_, err := f.v.Verify(context.Background(), f.user(t, RoleCustomer, time.Minute))
	if !fault.Is(err, fault.Unavailable) {
		t.Fatalf("err = %v, want Unavailable", err)
	}
}

func TestRequire(t *testing.T) {
	ctx := context.Background()
	if _, err := RequireUser(ctx); !fault.Is(err, fault.Unauthorized) {
		t.Errorf("anonymous RequireUser = %v", err)
	}
	cust := WithPrincipal(ctx, &Principal{Subject: "u", Role: RoleCustomer})
	if _, err := RequireAdmin(cust); !fault.Is(err, fault.Forbidden) {
		t.Errorf("customer RequireAdmin = %v", err)
	}
	if _, err := RequireService(cust, true); !fault.Is(err, fault.Forbidden) {
		t.Errorf("customer RequireService = %v", err)
	}
	admin := WithPrincipal(ctx, &Principal{Subject: "a", Role: RoleAdmin})
	if _, err := RequireService(admin, true); err != nil {
		t.Errorf("admin RequireService(allowAdmin) = %v", err)
	}
	if tok, ok := BearerToken("bearer abc"); !ok || tok != "abc" {
		t.Errorf("BearerToken = %q %v", tok, ok)
	}
	if _, ok := BearerToken("Basic abc"); ok {
		t.Error("Basic accepted")
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	f := &fixture{now: time.Now()}
	f.key, _ = NewSigningKey(f.now)
	f.keys = []SigningKey{f.key}
	v := NewVerifier(Options{JWKS: func(context.Context) ([]byte, error) { return json.Marshal(PublicJWKS(f.keys)) }})
	tok, _ := SignUser(f.key, "u1", "a@b.c", "A", RoleCustomer, f.now, time.Hour)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyUncached(b *testing.B) {
	f := &fixture{now: time.Now()}
	f.key, _ = NewSigningKey(f.now)
	f.keys = []SigningKey{f.key}
	tok, _ := SignUser(f.key, "u1", "a@b.c", "A", RoleCustomer, f.now, time.Hour)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		v := NewVerifier(Options{Keys: func(string) (ed25519.PublicKey, bool) { return f.key.Public(), true }})
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// TestServiceSecretRotation: with a second accepted secret, tokens signed
// with either verify; a third secret's do not; and without it, the other
// secret's tokens are refused.
func TestServiceSecretRotation(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	oldSecret, newSecret, other := []byte("old-secret-0123456789abcdef"), []byte("new-secret-0123456789abcdef"), []byte("other-secret-0123456789abcd")
	sign := func(secret []byte) string {
		tok, err := SignService(secret, "order", now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	rotating := NewVerifier(Options{ServiceSecret: newSecret, AcceptServiceSecret: oldSecret, Now: func() time.Time { return now }})
	plain := NewVerifier(Options{ServiceSecret: newSecret, Now: func() time.Time { return now }})
	tests := []struct {
		name   string
		v      *Verifier
		secret []byte
		ok     bool
	}{
		{"rotating, the current secret", rotating, newSecret, true},
		{"rotating, the accepted secret", rotating, oldSecret, true},
		{"rotating, another secret", rotating, other, false},
		{"plain, the current secret", plain, newSecret, true},
		{"plain, the old secret", plain, oldSecret, false},
	}
	for _, tt := range tests {
		p, err := tt.v.Verify(context.Background(), sign(tt.secret))
		if (err == nil) != tt.ok {
			t.Errorf("%s: err %v, want ok %v", tt.name, err, tt.ok)
		}
		if err == nil && (!p.IsService() || p.Service != "order") {
			t.Errorf("%s: principal %+v, want service order", tt.name, p)
		}
	}
}
