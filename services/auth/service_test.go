package auth

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
)

const (
	signupPath = "/api/v1/auth/signup"
	loginPath  = "/api/v1/auth/login"
)

func problemOf(t *testing.T, body []byte) fault.Problem {
	t.Helper()
	var p fault.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body %s: %v", body, err)
	}
	return p
}

func fieldNames(p fault.Problem) []string {
	var out []string
	for _, f := range p.Errors {
		out = append(out, f.Field)
	}
	slices.Sort(out)
	return out
}

func TestSignupAndLogin(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		h := NewHandler(newService(t, open(Migrations()), newClock(), testConfig()), nil)
		tests := []struct {
			name   string
			path   string
			body   string
			status int
			code   string
			fields []string
		}{
			{"signup", signupPath, `{"email":" Ada@Example.COM ","password":"correct horse","name":" Ada Lovelace "}`, 201, "", nil},
			{"same email", signupPath, `{"email":"ada@example.com","password":"another one","name":"Ada"}`, 409, "email_taken", nil},
			{"same email in capitals", signupPath, `{"email":"ADA@EXAMPLE.COM","password":"another one","name":"Ada"}`, 409, "email_taken", nil},
			{"all fields bad", signupPath, `{"email":"not-an-email","password":"short","name":"   "}`, 400, "invalid", []string{"email", "name", "password"}},
			{"display name in email", signupPath, `{"email":"Ada <ada2@example.com>","password":"correct horse","name":"Ada"}`, 400, "invalid", []string{"email"}},
			{"email too long", signupPath, `{"email":"` + strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + `.com","password":"correct horse","name":"Ada"}`, 400, "invalid", []string{"email"}},
			{"password too long", signupPath, `{"email":"ada3@example.com","password":"` + strings.Repeat("p", 129) + `","name":"Ada"}`, 400, "invalid", []string{"password"}},
			{"password of 8 multibyte characters", signupPath, `{"email":"ada4@example.com","password":"éééééééé","name":"Ada"}`, 201, "", nil},
			{"control character in name", signupPath, `{"email":"ada5@example.com","password":"correct horse","name":"Ada\u0007"}`, 400, "invalid", []string{"name"}},
			{"name too long", signupPath, `{"email":"ada6@example.com","password":"correct horse","name":"` + strings.Repeat("é", 101) + `"}`, 400, "invalid", []string{"name"}},
			{"unknown field", signupPath, `{"email":"ada7@example.com","password":"correct horse","name":"Ada","role":"admin"}`, 400, "invalid", []string{"role"}},
			{"wrong type", signupPath, `{"email":7,"password":"correct horse","name":"Ada"}`, 400, "invalid", []string{"email"}},
			{"not json", signupPath, `email=ada@example.com`, 400, "invalid", nil},
			{"login", loginPath, `{"email":"ADA@example.com ","password":"correct horse"}`, 200, "", nil},
			{"wrong password", loginPath, `{"email":"ada@example.com","password":"correct horsE"}`, 401, "invalid_credentials", nil},
			{"unknown email", loginPath, `{"email":"nobody@example.com","password":"correct horse"}`, 401, "invalid_credentials", nil},
			{"malformed email", loginPath, `{"email":"nobody","password":"correct horse"}`, 401, "invalid_credentials", nil},
			{"no password", loginPath, `{"email":"ada@example.com"}`, 400, "invalid", []string{"password"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				w := serve(h, nil, http.MethodPost, tt.path, tt.body)
				if w.Code != tt.status {
					t.Fatalf("status = %d, want %d; body %s", w.Code, tt.status, w.Body)
				}
				if tt.status < 400 {
					return
				}
				p := problemOf(t, w.Body.Bytes())
				if p.Code != tt.code {
					t.Errorf("code = %q, want %q", p.Code, tt.code)
				}
				if diff := cmp.Diff(tt.fields, fieldNames(p)); diff != "" {
					t.Errorf("invalid fields (-want +got):\n%s", diff)
				}
			})
		}
	})
}

func TestSignupAnswerAndEvent(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(Migrations())
		h := NewHandler(newService(t, db, newClock(), testConfig()), nil)
		w := serve(h, nil, http.MethodPost, signupPath, `{"email":" Ada@Example.COM ","password":"correct horse","name":" Ada "}`)
		if w.Code != http.StatusCreated {
			t.Fatalf("signup: %d %s", w.Code, w.Body)
		}
		var got map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		id := got["id"]
		if want := map[string]string{"id": id, "email": "ada@example.com", "name": "Ada"}; !cmp.Equal(got, want) || len(id) != 36 {
			t.Fatalf("signup answer = %v, want %v with a UUID id", got, want)
		}

		var typ, key, data string
		if err := db.QueryRow(context.Background(), `SELECT type, key, data FROM outbox`).Scan(&typ, &key, &data); err != nil {
			t.Fatal(err)
		}
		var ev UserRegistered
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatal(err)
		}
		want := UserRegistered{UserID: id, Email: "ada@example.com", Name: "Ada", Role: authn.RoleCustomer}
		if typ != EventUserRegistered || key != id || ev != want {
			t.Errorf("outbox = %s %s %+v, want %s %s %+v", typ, key, ev, EventUserRegistered, id, want)
		}
	})
}

func TestFailedLoginsLookAlike(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc := newService(t, open(Migrations()), newClock(), testConfig())
		h := NewHandler(svc, nil)
		serve(h, nil, http.MethodPost, signupPath, `{"email":"ada@example.com","password":"correct horse","name":"Ada"}`)

		wrong := serve(h, nil, http.MethodPost, loginPath, `{"email":"ada@example.com","password":"wrong horse"}`)
		unknown := serve(h, nil, http.MethodPost, loginPath, `{"email":"bob@example.com","password":"wrong horse"}`)
		if wrong.Code != http.StatusUnauthorized || wrong.Body.String() != unknown.Body.String() {
			t.Errorf("wrong password: %d %s\nunknown email: %d %s\nwant the same 401", wrong.Code, wrong.Body, unknown.Code, unknown.Body)
		}

		// An unknown email costs a hash too: with every hashing slot taken
		// the login waits instead of answering at once.
		for range cap(svc.hasher.slots) {
			svc.hasher.slots <- struct{}{}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := svc.Login(ctx, LoginRequest{Email: "bob@example.com", Password: "wrong horse"}); !fault.Is(err, fault.Unavailable) {
			t.Errorf("login of an unknown email with no hashing slot = %v, want Unavailable (it must hash)", err)
		}
	})
}

func TestTokenVerifiesWithJWKS(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		clk := newClock()
		svc := newService(t, open(Migrations()), clk, testConfig())
		ctx := context.Background()
		u, err := svc.Signup(ctx, SignupRequest{Email: "ada@example.com", Password: "correct horse", Name: "Ada"})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := svc.Login(ctx, LoginRequest{Email: "ada@example.com", Password: "correct horse"})
		if err != nil {
			t.Fatal(err)
		}
		if tok.TokenType != "Bearer" || tok.ExpiresIn != 900 {
			t.Errorf("token = %+v, want Bearer expiring in 900s", tok)
		}
		h := NewHandler(svc, nil)
		p, err := verifierFor(h, clk).Verify(ctx, tok.AccessToken)
		if err != nil {
			t.Fatalf("verify with the JWKS: %v", err)
		}
		want := authn.Principal{Subject: u.ID, Email: "ada@example.com", Name: "Ada", Role: authn.RoleCustomer, Expires: clk.Now().Add(15 * time.Minute), Token: tok.AccessToken}
		if diff := cmp.Diff(want, *p); diff != "" {
			t.Errorf("principal (-want +got):\n%s", diff)
		}
		// The auth service's own verification (boot.Spec.Keys) agrees.
		own := authn.NewVerifier(authn.Options{Keys: svc.Keys().PublicKey, Now: clk.Now})
		if _, err := own.Verify(ctx, tok.AccessToken); err != nil {
			t.Errorf("verify with the keyring: %v", err)
		}

		w := serve(h, nil, http.MethodGet, "/.well-known/jwks.json", "")
		if cc := w.Header().Get("Cache-Control"); cc != "public, max-age=60" {
			t.Errorf("JWKS Cache-Control = %q", cc)
		}
	})
}

func TestEnsureAdmin(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		clk := newClock()
		// Two replicas starting at once on one database.
		replicas := []*Service{newService(t, open(Migrations()), clk, testConfig()), newService(t, open(Migrations()), clk, testConfig())}
		var wg sync.WaitGroup
		created := make([]bool, len(replicas))
		for i, svc := range replicas {
			wg.Go(func() {
				var err error
				if created[i], err = svc.EnsureAdmin(ctx, " Admin@Souk.local", "first-password"); err != nil {
					t.Errorf("replica %d: EnsureAdmin: %v", i, err)
				}
			})
		}
		wg.Wait()
		if created[0] == created[1] {
			t.Errorf("created = %v, want exactly one replica to create the admin", created)
		}
		// A restart with another password changes nothing.
		svc := replicas[0]
		if again, err := svc.EnsureAdmin(ctx, "admin@souk.local", "second-password"); err != nil || again {
			t.Errorf("EnsureAdmin again = %v, %v; want false, nil", again, err)
		}
		if _, err := svc.Login(ctx, LoginRequest{Email: "admin@souk.local", Password: "second-password"}); !fault.HasCode(err, "invalid_credentials") {
			t.Errorf("login with the second password: %v, want invalid_credentials", err)
		}
		tok, err := svc.Login(ctx, LoginRequest{Email: "admin@souk.local", Password: "first-password"})
		if err != nil {
			t.Fatalf("login with the first password: %v", err)
		}
		p, err := authn.NewVerifier(authn.Options{Keys: svc.Keys().PublicKey, Now: clk.Now}).Verify(ctx, tok.AccessToken)
		if err != nil || p.Role != authn.RoleAdmin || p.Name != AdminName {
			t.Errorf("admin principal = %+v, %v", p, err)
		}

		var users, registered int
		_ = svc.db.QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE role = 'admin'`).Scan(&users)
		_ = svc.db.QueryRow(ctx, `SELECT COUNT(*) FROM outbox WHERE type = ? AND data LIKE '%"role":"admin"%'`, EventUserRegistered).Scan(&registered)
		if users != 1 || registered != 1 {
			t.Errorf("admin users = %d, USER_REGISTERED events = %d; want 1 and 1", users, registered)
		}

		if _, err := svc.EnsureAdmin(ctx, "not an email", "first-password"); !fault.Is(err, fault.Invalid) {
			t.Errorf("EnsureAdmin with a bad email = %v, want Invalid", err)
		}
	})
}

func TestLoginUpgradesOldHashes(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		clk := newClock()
		db := open(Migrations())
		old := newService(t, db, clk, testConfig())
		u, err := old.Signup(ctx, SignupRequest{Email: "ada@example.com", Password: "correct horse", Name: "Ada"})
		if err != nil {
			t.Fatal(err)
		}
		cfg := testConfig()
		cfg.Argon2 = Argon2Params{Memory: 128, Time: 2, Threads: 1}
		upgraded := newService(t, db, clk, cfg)
		for range 2 {
			if _, err := upgraded.Login(ctx, LoginRequest{Email: "ada@example.com", Password: "correct horse"}); err != nil {
				t.Fatalf("login: %v", err)
			}
		}
		var hash string
		if err := db.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = ?`, u.ID).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hash, "$argon2id$v=19$m=128,t=2,p=1$") {
			t.Errorf("hash after login = %s, want the new parameters", hash)
		}
	})
}

func TestRoutesAuthorization(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc := newService(t, open(Migrations()), newClock(), testConfig())
		h := NewHandler(svc, nil)
		u, err := svc.Signup(context.Background(), SignupRequest{Email: "ada@example.com", Password: "correct horse", Name: "Ada"})
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name   string
			p      *authn.Principal
			method string
			path   string
			status int
		}{
			{"rotate anonymous", nil, http.MethodPost, "/api/v1/admin/keys/rotate", 401},
			{"rotate customer", customer, http.MethodPost, "/api/v1/admin/keys/rotate", 403},
			{"rotate service", service, http.MethodPost, "/api/v1/admin/keys/rotate", 401},
			{"rotate admin", admin, http.MethodPost, "/api/v1/admin/keys/rotate", 201},
			{"user anonymous", nil, http.MethodGet, "/internal/users/" + u.ID, 401},
			{"user customer", customer, http.MethodGet, "/internal/users/" + u.ID, 403},
			{"user admin", admin, http.MethodGet, "/internal/users/" + u.ID, 403},
			{"user service", service, http.MethodGet, "/internal/users/" + u.ID, 200},
			{"unknown user", service, http.MethodGet, "/internal/users/0190c8f8-0000-7000-8000-000000000000", 404},
			{"overlong id", service, http.MethodGet, "/internal/users/" + strings.Repeat("x", 65), 400},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				w := serve(h, tt.p, tt.method, tt.path, "")
				if w.Code != tt.status {
					t.Errorf("status = %d, want %d; body %s", w.Code, tt.status, w.Body)
				}
			})
		}

		var got User
		w := serve(h, service, http.MethodGet, "/internal/users/"+u.ID, "")
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(u, got); diff != "" {
			t.Errorf("internal user (-want +got):\n%s", diff)
		}
	})
}
