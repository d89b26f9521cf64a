package authn

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/souk/souk/platform/fault"
)

// Options configures a Verifier.
type Options struct {
	// JWKS fetches the auth service's key set. Nil means user tokens are not
	// accepted (only service tokens).
	JWKS func(ctx context.Context) ([]byte, error)
	// Keys, when set, answers key lookups directly (the auth service uses
	// its own keys and needs no JWKS round trip).
	Keys func(kid string) (ed25519.PublicKey, bool)
	// ServiceSecret verifies service tokens; empty means none are accepted.
	ServiceSecret []byte
	// AcceptServiceSecret, when set, is a second secret whose service
	// tokens are accepted too: for rotating the secret without refusing
	// the tokens of instances not yet restarted.
	AcceptServiceSecret []byte
	Now                 func() time.Time
	// CacheSize bounds the verified-token cache (default 100,000 tokens).
	CacheSize int
	Logger    *slog.Logger
}

// Verifier verifies bearer tokens and caches the verified ones until they
// expire.
type Verifier struct {
	opts Options
	now  func() time.Time

	keys        atomic.Pointer[map[string]ed25519.PublicKey]
	refreshMu   sync.Mutex
	lastRefresh time.Time

	cacheMu sync.RWMutex
	cache   map[string]*Principal
}

// NewVerifier returns a Verifier.
func NewVerifier(opts Options) *Verifier {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 100_000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Verifier{opts: opts, now: opts.Now, cache: make(map[string]*Principal)}
}

var (
	errBadToken = fault.New(fault.Unauthorized, "invalid_token", "the token is invalid")
	errExpired  = fault.New(fault.Unauthorized, "token_expired", "the token has expired")
)

// Verify checks token and returns its principal. Errors are
// fault.Unauthorized (invalid_token, token_expired), or fault.Unavailable
// when the key set cannot be fetched.
func (v *Verifier) Verify(ctx context.Context, token string) (*Principal, error) {
	now := v.now()
	v.cacheMu.RLock()
	p, ok := v.cache[token]
	v.cacheMu.RUnlock()
	if ok {
		if now.Before(p.Expires) {
			return p, nil
		}
		return nil, errExpired
	}
	p, err := v.verify(ctx, token, now)
	if err != nil {
		return nil, err
	}
	v.remember(token, p, now)
	return p, nil
}

func (v *Verifier) verify(ctx context.Context, token string, now time.Time) (*Principal, error) {
	if len(token) > 4096 || !compactJWS(token) {
		return nil, errBadToken
	}
	var unavailable error
	var claims UserClaims
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"EdDSA", "HS256"}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(5*time.Second),
		jwt.WithTimeFunc(func() time.Time { return now }),
		// Strict base64: otherwise the unused low bits of the signature's
		// last character can be changed and the token still verifies, so
		// one token would have many spellings (and cache entries).
		jwt.WithStrictDecoding(),
	)
	tok, err := parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		switch t.Method.Alg() {
		case "EdDSA":
			if claims.Issuer != Issuer {
				return nil, errBadToken
			}
			kid, _ := t.Header["kid"].(string)
			key, err := v.key(ctx, kid)
			if err != nil {
				unavailable = err
				return nil, err
			}
			if key == nil {
				return nil, errBadToken
			}
			return key, nil
		case "HS256":
			if claims.Issuer != ServiceIssuer || len(v.opts.ServiceSecret) == 0 {
				return nil, errBadToken
			}
			if len(v.opts.AcceptServiceSecret) > 0 {
				return jwt.VerificationKeySet{Keys: []jwt.VerificationKey{v.opts.ServiceSecret, v.opts.AcceptServiceSecret}}, nil
			}
			return v.opts.ServiceSecret, nil
		}
		return nil, errBadToken
	})
	if unavailable != nil {
		return nil, unavailable
	}
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, errExpired
		}
		return nil, errBadToken
	}
	if !tok.Valid || claims.Subject == "" || claims.ExpiresAt == nil {
		return nil, errBadToken
	}
	p := &Principal{Subject: claims.Subject, Expires: claims.ExpiresAt.Time, Token: token}
	switch tok.Method.Alg() {
	case "EdDSA":
		if !audienceHas(claims.Audience, Audience) {
			return nil, errBadToken
		}
		if claims.Role != RoleCustomer && claims.Role != RoleAdmin {
			return nil, errBadToken
		}
		p.Email, p.Name, p.Role = claims.Email, claims.Name, claims.Role
	case "HS256":
		if !audienceHas(claims.Audience, ServiceAudience) || !strings.HasPrefix(claims.Subject, "service:") {
			return nil, errBadToken
		}
		p.Role = RoleService
		p.Service = strings.TrimPrefix(claims.Subject, "service:")
	}
	return p, nil
}

// compactJWS reports whether token holds only the characters of a compact
// JWS: base64url digits and dots. Go's base64 decoding skips CR and LF even
// when strict, so without this check "token\r\n" would verify as token.
func compactJWS(token string) bool {
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func audienceHas(aud jwt.ClaimStrings, want string) bool {
	for _, a := range aud {
		if a == want {
			return true
		}
	}
	return false
}

// key returns the public key kid, refreshing the key set (at most once a
// second) when kid is unknown. A nil key with a nil error means no such key.
func (v *Verifier) key(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	if v.opts.Keys != nil {
		k, ok := v.opts.Keys(kid)
		if !ok {
			return nil, nil
		}
		return k, nil
	}
	if keys := v.keys.Load(); keys != nil {
		if k, ok := (*keys)[kid]; ok {
			return k, nil
		}
	}
	if v.opts.JWKS == nil {
		return nil, nil
	}
	v.refreshMu.Lock()
	defer v.refreshMu.Unlock()
	if keys := v.keys.Load(); keys != nil {
		if k, ok := (*keys)[kid]; ok {
			return k, nil
		}
	}
	if now := v.now(); now.Sub(v.lastRefresh) < time.Second && v.keys.Load() != nil {
		return nil, nil
	}
	data, err := v.opts.JWKS(ctx)
	v.lastRefresh = v.now()
	if err != nil {
		v.opts.Logger.WarnContext(ctx, "fetch jwks", "err", err)
		return nil, fault.Wrap(err, fault.Unavailable, "unavailable", "cannot verify tokens right now")
	}
	keys, err := ParseJWKS(data)
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "unavailable", "cannot verify tokens right now")
	}
	v.keys.Store(&keys)
	return keys[kid], nil
}

func (v *Verifier) remember(token string, p *Principal, now time.Time) {
	v.cacheMu.Lock()
	defer v.cacheMu.Unlock()
	if len(v.cache) >= v.opts.CacheSize {
		for t, q := range v.cache {
			if !now.Before(q.Expires) {
				delete(v.cache, t)
			}
		}
		// Still full of live tokens: drop an arbitrary half rather than grow.
		if len(v.cache) >= v.opts.CacheSize {
			n := 0
			for t := range v.cache {
				if n%2 == 0 {
					delete(v.cache, t)
				}
				n++
			}
		}
	}
	v.cache[token] = p
}

// Middleware authenticates requests that carry an Authorization header and
// puts the principal in their context; a bad token is a 401 problem. A
// request without a token passes through anonymous: handlers decide with
// RequireUser, RequireAdmin or RequireService.
func (v *Verifier) Middleware(next http.Handler, onError func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			next.ServeHTTP(w, r)
			return
		}
		token, ok := BearerToken(h)
		if !ok {
			onError(w, r, errBadToken)
			return
		}
		p, err := v.Verify(r.Context(), token)
		if err != nil {
			onError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}
