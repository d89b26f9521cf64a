package authn

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token issuers and audiences.
const (
	Issuer          = "souk-auth"
	Audience        = "souk"
	ServiceIssuer   = "souk-internal"
	ServiceAudience = "souk-internal"
)

// SigningKey is one Ed25519 key of the auth service.
type SigningKey struct {
	ID      string
	Private ed25519.PrivateKey
	Created time.Time
}

// NewSigningKey generates a key whose id is derived from its public half.
func NewSigningKey(now time.Time) (SigningKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SigningKey{}, fmt.Errorf("generate key: %w", err)
	}
	sum := sha256.Sum256(pub)
	return SigningKey{ID: hex.EncodeToString(sum[:8]), Private: priv, Created: now.UTC()}, nil
}

// Public returns the key's public half.
func (k SigningKey) Public() ed25519.PublicKey { return k.Private.Public().(ed25519.PublicKey) }

// UserClaims are the claims of a user token.
type UserClaims struct {
	jwt.RegisteredClaims
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
	Role  string `json:"role"`
}

// SignUser signs a user token valid for ttl with key.
func SignUser(key SigningKey, userID, email, name, role string, now time.Time, ttl time.Duration) (string, error) {
	claims := UserClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   userID,
			Audience:  jwt.ClaimStrings{Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Second)),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID:        randomID(),
		},
		Email: email, Name: name, Role: role,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = key.ID
	s, err := tok.SignedString(key.Private)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// JWK is one public key in a JSON Web Key Set (RFC 8037 OKP).
type JWK struct {
	KeyType   string `json:"kty"`
	Curve     string `json:"crv"`
	X         string `json:"x"`
	KeyID     string `json:"kid"`
	Algorithm string `json:"alg"`
	Use       string `json:"use"`
}

// JWKSet is a JSON Web Key Set.
type JWKSet struct {
	Keys []JWK `json:"keys"`
}

// PublicJWKS returns the key set publishing the public halves of keys.
func PublicJWKS(keys []SigningKey) JWKSet {
	set := JWKSet{Keys: make([]JWK, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, JWK{
			KeyType: "OKP", Curve: "Ed25519", KeyID: k.ID, Algorithm: "EdDSA", Use: "sig",
			X: base64.RawURLEncoding.EncodeToString(k.Public()),
		})
	}
	return set
}

// ParseJWKS decodes a key set into public keys by id, ignoring keys of other
// types.
func ParseJWKS(data []byte) (map[string]ed25519.PublicKey, error) {
	var set JWKSet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("parse jwks: %w", err)
	}
	keys := make(map[string]ed25519.PublicKey, len(set.Keys))
	for _, k := range set.Keys {
		if k.KeyType != "OKP" || k.Curve != "Ed25519" || k.KeyID == "" {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("parse jwks: key %q: bad x", k.KeyID)
		}
		keys[k.KeyID] = ed25519.PublicKey(x)
	}
	return keys, nil
}
