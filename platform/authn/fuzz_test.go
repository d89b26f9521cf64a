package authn

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/souk/souk/platform/fault"
)

// fuzzKit is what the token fuzzers verify against: one signing key, a
// service secret, a fixed clock, and valid tokens of every kind.
type fuzzKit struct {
	v      *Verifier
	valid  []string
	now    time.Time
	key    SigningKey
	secret []byte
}

func newFuzzKit(tb testing.TB) *fuzzKit {
	tb.Helper()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	key, err := NewSigningKey(now)
	if err != nil {
		tb.Fatal(err)
	}
	k := &fuzzKit{now: now, key: key, secret: []byte("0123456789abcdef0123456789abcdef")}
	k.v = NewVerifier(Options{
		// A JWKS that always answers: an unknown kid is then "no such key"
		// (Unauthorized), never Unavailable.
		JWKS: func(context.Context) ([]byte, error) {
			return json.Marshal(PublicJWKS([]SigningKey{key}))
		},
		ServiceSecret: k.secret,
		Now:           func() time.Time { return now },
	})
	for _, role := range []string{RoleCustomer, RoleAdmin} {
		tok, err := SignUser(key, "u1", "ada@example.com", "Ada", role, now, 15*time.Minute)
		if err != nil {
			tb.Fatal(err)
		}
		k.valid = append(k.valid, tok)
	}
	svc, err := SignService(k.secret, "order", now, 10*time.Minute)
	if err != nil {
		tb.Fatal(err)
	}
	k.valid = append(k.valid, svc)
	for _, tok := range k.valid {
		if _, err := k.v.Verify(context.Background(), tok); err != nil {
			tb.Fatalf("a valid token does not verify: %v", err)
		}
	}
	return k
}

// checkRefusal fails unless err is one a client may get for a bad token.
func checkRefusal(t *testing.T, err error) {
	t.Helper()
	if !fault.Is(err, fault.Unauthorized) && !fault.Is(err, fault.Unavailable) {
		t.Fatalf("error %v is of kind %v, want Unauthorized or Unavailable", err, fault.KindOf(err))
	}
}

// hostileTokens are seeds an attacker would try: alg none, HS256 with the
// public key or an empty secret, a user token claiming the service role, a
// service token signed with another secret, expired and future tokens,
// huge and malformed ones.
func hostileTokens(k *fuzzKit) []string {
	enc := base64.RawURLEncoding.EncodeToString
	claims := func(iss, sub, aud, role string, exp time.Time) string {
		b, _ := json.Marshal(map[string]any{"iss": iss, "sub": sub, "aud": aud, "role": role, "iat": k.now.Unix(), "exp": exp.Unix()})
		return enc(b)
	}
	later := k.now.Add(time.Hour)
	none := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + claims(Issuer, "u1", Audience, RoleAdmin, later) + "."
	hsPublic, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": Issuer, "sub": "u1", "aud": Audience, "role": RoleAdmin, "iat": k.now.Unix(), "exp": later.Unix()}).SignedString([]byte(k.key.Public()))
	wrongSecret, _ := SignService([]byte("not-the-cluster-secret-at-all!!"), "order", k.now, time.Minute)
	serviceAsUser, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": ServiceIssuer, "sub": "u1", "aud": ServiceAudience, "iat": k.now.Unix(), "exp": later.Unix()}).SignedString(k.secret)
	userAsService := jwt.NewWithClaims(jwt.SigningMethodEdDSA, UserClaims{RegisteredClaims: jwt.RegisteredClaims{Issuer: ServiceIssuer, Subject: "service:order", Audience: jwt.ClaimStrings{ServiceAudience}, IssuedAt: jwt.NewNumericDate(k.now), ExpiresAt: jwt.NewNumericDate(later)}, Role: RoleService})
	userAsService.Header["kid"] = k.key.ID
	userAsServiceTok, _ := userAsService.SignedString(k.key.Private)
	expired, _ := SignUser(k.key, "u1", "a@example.com", "Ada", RoleCustomer, k.now.Add(-2*time.Hour), time.Hour)
	future, _ := SignUser(k.key, "u1", "a@example.com", "Ada", RoleCustomer, k.now.Add(time.Hour), time.Hour)
	badRole, _ := SignUser(k.key, "u1", "a@example.com", "Ada", "root", k.now, time.Hour)
	noSub, _ := SignUser(k.key, "", "a@example.com", "Ada", RoleCustomer, k.now, time.Hour)
	_, other, _ := ed25519.GenerateKey(nil)
	otherKey, _ := SignUser(SigningKey{ID: k.key.ID, Private: other}, "u1", "a@example.com", "Ada", RoleAdmin, k.now, time.Hour)
	parts := strings.Split(k.valid[0], ".")
	return []string{
		"", ".", "..", "...", "a.b.c", "Bearer " + k.valid[0], k.valid[0] + " ", k.valid[0] + "=",
		none, strings.TrimSuffix(none, ".") + ".AAAA",
		hsPublic, wrongSecret, serviceAsUser, userAsServiceTok, expired, future, badRole, noSub, otherKey,
		parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[2],
		parts[0] + "." + claims(Issuer, "u1", Audience, RoleAdmin, later) + "." + parts[2],
		enc([]byte(`{"alg":"EdDSA","kid":{"a":1}}`)) + "." + parts[1] + "." + parts[2],
		enc([]byte(`{"alg":"EdDSA","crit":["x"]}`)) + "." + parts[1] + "." + parts[2],
		enc([]byte(`{"alg":"EdDSA"}`)) + "." + enc([]byte(`{"exp":1e309}`)) + "." + parts[2],
		enc([]byte(`{"alg":"HS256"}`)) + "." + enc([]byte(`{"iss":"souk-internal","exp":-9223372036854775808,"aud":[[]]}`)) + ".x",
		strings.Repeat("A", 5000),
		strings.Repeat("a.", 2000),
		"\x00\xff\xfe.\u00e9.\U0001F600",
	}
}

// FuzzVerify feeds arbitrary strings to the token verifier: it must never
// panic, must refuse only as Unauthorized or Unavailable, and must accept
// nothing but the valid tokens it was given. Seeds are in
// testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	k := newFuzzKit(f)
	for _, tok := range append(append([]string(nil), k.valid...), hostileTokens(k)...) {
		f.Add(tok)
	}
	valid := map[string]bool{}
	for _, tok := range k.valid {
		valid[tok] = true
	}
	f.Fuzz(func(t *testing.T, token string) {
		p, err := k.v.Verify(context.Background(), token)
		if err != nil {
			checkRefusal(t, err)
			if p != nil {
				t.Fatalf("a refusal returned a principal %+v", p)
			}
			return
		}
		if !valid[token] {
			t.Fatalf("verified a token it never issued: %q → %+v", token, p)
		}
		if p.Subject == "" || p.Token != token {
			t.Fatalf("principal %+v", p)
		}
		// BearerToken must hand the same token back from a header.
		if got, ok := BearerToken("Bearer " + token); !ok || got != token {
			t.Fatalf("BearerToken(Bearer %q) = %q, %v", token, got, ok)
		}
	})
}

// FuzzVerifyMutated changes one byte of a valid token (or cuts it, or
// appends to it): the result must never verify. This is what caught the
// non-strict base64 decoding, where the unused low bits of the last
// character of the signature could change and the token still verify.
func FuzzVerifyMutated(f *testing.F) {
	k := newFuzzKit(f)
	for i := range k.valid {
		// Two characters of each group of 16 base64 digits that share the
		// two high bits: one of them differs from the last character and
		// carries the same two significant bits.
		for _, c := range []byte("ABQRghwx") {
			f.Add(uint8(i), uint16(len(k.valid[i])-1), c, uint8(0))
		}
		f.Add(uint8(i), uint16(10), byte('.'), uint8(0))
		f.Add(uint8(i), uint16(len(k.valid[i])-3), byte(0), uint8(1))
		f.Add(uint8(i), uint16(0), byte('='), uint8(2))
	}
	f.Fuzz(func(t *testing.T, which uint8, pos uint16, b byte, op uint8) {
		orig := k.valid[int(which)%len(k.valid)]
		i := int(pos) % len(orig)
		var mutated string
		switch op % 3 {
		case 0: // replace one byte
			mutated = orig[:i] + string([]byte{b}) + orig[i+1:]
		case 1: // cut
			mutated = orig[:i]
		default: // append
			mutated = orig + string([]byte{b})
		}
		if mutated == orig {
			return
		}
		p, err := k.v.Verify(context.Background(), mutated)
		if err == nil {
			t.Fatalf("a mutated token verified: %q (from %q) → %+v", mutated, orig, p)
		}
		checkRefusal(t, err)
		if errors.Is(err, errExpired) {
			t.Fatalf("a mutated token was judged on its expiry, not refused as invalid: %v", err)
		}
	})
}

// FuzzBearerToken checks the Authorization header parser: whatever it
// returns is the header without its scheme, trimmed.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer abc", "BEARER  abc  ", "Bearer ", "Bearer", "Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Bearerabc", "Bearer \x00", "Bearer \t\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, ok := BearerToken(header)
		if !ok {
			if tok != "" {
				t.Fatalf("refused header %q but returned %q", header, tok)
			}
			return
		}
		if !strings.EqualFold(header[:7], "Bearer ") {
			t.Fatalf("accepted header %q without the Bearer scheme", header)
		}
		if tok != strings.TrimSpace(header[7:]) {
			t.Fatalf("token %q from header %q", tok, header)
		}
	})
}
