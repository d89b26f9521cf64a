package auth

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
)

// kidOf returns the key id in a token's header.
func kidOf(t *testing.T, token string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}

// jwksKids returns the key ids the handler publishes.
func jwksKids(t *testing.T, h http.Handler) []string {
	t.Helper()
	var set authn.JWKSet
	if err := json.Unmarshal(serve(h, nil, http.MethodGet, "/.well-known/jwks.json", "").Body.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

func login(t *testing.T, svc *Service) string {
	t.Helper()
	tok, err := svc.Login(context.Background(), LoginRequest{Email: "ada@example.com", Password: "correct horse"})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	return tok.AccessToken
}

func TestKeyRotation(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		clk := newClock()
		cfg := testConfig()
		svc := newService(t, open(Migrations()), clk, cfg)
		h := NewHandler(svc, nil)
		if _, err := svc.Signup(ctx, SignupRequest{Email: "ada@example.com", Password: "correct horse", Name: "Ada"}); err != nil {
			t.Fatal(err)
		}
		before := login(t, svc)
		oldKid := kidOf(t, before)
		if got := jwksKids(t, h); !cmp.Equal(got, []string{oldKid}) {
			t.Fatalf("JWKS before rotation = %v, want [%s]", got, oldKid)
		}

		clk.Advance(time.Minute)
		w := serve(h, admin, http.MethodPost, "/api/v1/admin/keys/rotate", "")
		var info KeyInfo
		if err := json.Unmarshal(w.Body.Bytes(), &info); err != nil || w.Code != http.StatusCreated {
			t.Fatalf("rotate: %d %s", w.Code, w.Body)
		}
		newKid := info.ID
		if want := clk.Now().Add(cfg.PublishDelay); !info.ActiveAt.Equal(want) {
			t.Errorf("new key active at %v, want %v", info.ActiveAt, want)
		}
		// Published at once, but not signing yet.
		if got := jwksKids(t, h); !cmp.Equal(got, []string{oldKid, newKid}) {
			t.Errorf("JWKS right after rotation = %v, want [%s %s]", got, oldKid, newKid)
		}
		if kid := kidOf(t, login(t, svc)); kid != oldKid {
			t.Errorf("token within the publish delay signed by %s, want the old key %s", kid, oldKid)
		}

		clk.Advance(cfg.PublishDelay)
		lastOld := clk.Now() // the old key signs no more from here
		after := login(t, svc)
		if kid := kidOf(t, after); kid != newKid {
			t.Errorf("token after the publish delay signed by %s, want the new key %s", kid, newKid)
		}
		// Nobody is logged out: both tokens verify with the published keys,
		// for a verifier that cached the old set as for a new one.
		v := verifierFor(h, clk)
		for name, tok := range map[string]string{"before rotation": before, "after rotation": after} {
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Errorf("token %s: %v", name, err)
			}
		}

		// The old key stays published until its last token has expired.
		clk.Advance(lastOld.Add(cfg.TokenTTL + retireLeeway - time.Second).Sub(clk.Now()))
		if got := jwksKids(t, h); !cmp.Equal(got, []string{oldKid, newKid}) {
			t.Errorf("JWKS just before the old key's tokens are all expired = %v, want both", got)
		}
		clk.Advance(time.Second)
		if got := jwksKids(t, h); !cmp.Equal(got, []string{newKid}) {
			t.Errorf("JWKS once the old key's tokens expired = %v, want [%s]", got, newKid)
		}
		if _, ok := svc.Keys().PublicKey(oldKid); ok {
			t.Error("the retired key still verifies tokens")
		}
		// The retirement is recorded, so a restart does not load the key.
		restarted := newService(t, open(Migrations()), clk, cfg)
		if got := restarted.Keys().snapshot(); len(got) != 1 || got[0].ID != newKid {
			t.Errorf("keys loaded after a restart = %v, want only %s", got, newKid)
		}
	})
}

func TestRotationReachesOtherReplicas(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		clk := newClock()
		a := newService(t, open(Migrations()), clk, testConfig())
		b := newService(t, open(Migrations()), clk, testConfig())
		if a.JWKS().Keys[0].KeyID != b.JWKS().Keys[0].KeyID || len(b.JWKS().Keys) != 1 {
			t.Fatalf("replicas started with keys %v and %v, want one shared key", a.JWKS().Keys, b.JWKS().Keys)
		}
		if _, err := a.Signup(ctx, SignupRequest{Email: "ada@example.com", Password: "correct horse", Name: "Ada"}); err != nil {
			t.Fatal(err)
		}
		key, err := a.RotateKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(testConfig().PublishDelay)
		tok := login(t, a)
		if kidOf(t, tok) != key.ID {
			t.Fatalf("replica a signs with %s, want %s", kidOf(t, tok), key.ID)
		}
		// b has not re-read the keys yet; a token naming the new key makes it.
		own := authn.NewVerifier(authn.Options{Keys: b.Keys().PublicKey, Now: clk.Now})
		if _, err := own.Verify(ctx, tok); err != nil {
			t.Errorf("replica b verifies a token of the key rotated on a: %v", err)
		}
		if kid := kidOf(t, login(t, b)); kid != key.ID {
			t.Errorf("replica b signs with %s, want %s", kid, key.ID)
		}
		// Unknown kids re-read the keys at most once a second.
		if _, ok := b.Keys().PublicKey("no-such-kid"); ok {
			t.Error("an unknown kid was found")
		}
		if _, err := a.RotateKey(ctx); err != nil {
			t.Fatal(err)
		}
		newest := a.JWKS().Keys[len(a.JWKS().Keys)-1].KeyID
		if _, ok := b.Keys().PublicKey(newest); ok {
			t.Error("replica b re-read the keys within a second of the last read")
		}
		clk.Advance(unknownKidRefresh)
		if _, ok := b.Keys().PublicKey(newest); !ok {
			t.Error("replica b did not re-read the keys a second later")
		}
	})
}

func TestSchedule(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ttl := 15 * time.Minute
	key := func(id string, active time.Duration) Key {
		return Key{SigningKey: authn.SigningKey{ID: id}, ActiveAt: t0.Add(active)}
	}
	got := schedule([]Key{key("c", 2*time.Hour), key("a", 0), key("b", time.Hour)}, ttl)
	var ids []string
	var retires []time.Time
	for _, k := range got {
		ids = append(ids, k.ID)
		retires = append(retires, k.RetiresAt)
	}
	wantRetires := []time.Time{t0.Add(time.Hour + ttl + retireLeeway), t0.Add(2*time.Hour + ttl + retireLeeway), {}}
	if strings.Join(ids, "") != "abc" || !cmp.Equal(retires, wantRetires) {
		t.Errorf("schedule = %v retiring at %v, want abc retiring at %v", ids, retires, wantRetires)
	}
}
