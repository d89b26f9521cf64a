// Package auth is the auth service: it owns the credentials (argon2id
// password hashes) and the Ed25519 keys that sign user tokens.
//
// Users sign up and log in here; a login answers an EdDSA JWT (package
// platform/authn) that every other service verifies with the public keys
// this service publishes at /.well-known/jwks.json. A sign-up writes the user
// and a USER_REGISTERED event in one transaction (transactional outbox), so
// the user service's profile read model never misses a user.
//
// # Passwords
//
// Hashes are argon2id PHC strings that carry their own parameters, so the
// parameters can change (SOUK_AUTH_ARGON2) without invalidating old hashes;
// a hash made with other parameters is replaced at the user's next login.
// One hash costs tens of milliseconds of CPU, so at most 2×GOMAXPROCS run at
// once and the rest wait: a burst of logins slows logins, not the process.
// A login with an unknown email hashes too (against a dummy hash), so that
// the answer and its timing do not tell whether the email has an account.
// Passwords and tokens are never logged.
//
// # Signing keys and rotation
//
// Keys live in the database, shared by every replica; each replica re-reads
// them every few seconds and whenever a token names a key it does not know.
// The first start creates one. POST /api/v1/admin/keys/rotate adds a key that
// is published in the JWKS at once but signs only after the publish delay
// (SOUK_AUTH_KEY_PUBLISH_DELAY), so verifiers that refresh on an unknown kid
// already find it; the key it replaces stays published until every token it
// can have signed has expired. Nobody is logged out by a rotation.
//
// # Admin account
//
// At start the admin account SOUK_ADMIN_EMAIL (default admin@souk.local)
// with password SOUK_ADMIN_PASSWORD (default souk-admin-password, logged as
// a warning) is created when no account has that email; an existing
// account, its password included, is left as it is. Replicas starting at
// once create it exactly once (the email is unique).
//
// # Settings
//
//	SOUK_AUTH_TOKEN_TTL           lifetime of user tokens (default 15m)
//	SOUK_AUTH_KEY_PUBLISH_DELAY   delay before a new key signs (default 2s)
//	SOUK_AUTH_ARGON2              argon2id parameters (default m=19456,t=2,p=1:
//	                              19 MiB, 2 passes, 1 lane, as OWASP advises)
//	SOUK_ADMIN_EMAIL, SOUK_ADMIN_PASSWORD   the admin account, see above
//
// # Routes
//
//	POST /api/v1/auth/signup        anyone   {email,password,name} → 201 {id,email,name}
//	POST /api/v1/auth/login         anyone   {email,password} → 200 {access_token,token_type,expires_in}
//	GET  /.well-known/jwks.json     anyone   the published public keys
//	POST /api/v1/admin/keys/rotate  admin    → 201 the new key's id and times
//	GET  /internal/users/{id}       service  → {id,email,name,role,created_at}
package auth

import (
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
)

// User is an account as other services see it: never its password hash.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// SignupRequest is the body of POST /api/v1/auth/signup.
type SignupRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

// Normalize returns r with the email trimmed and lower-cased and the name
// trimmed, the form in which they are validated and stored.
func (r SignupRequest) Normalize() SignupRequest {
	r.Email = NormalizeEmail(r.Email)
	r.Name = strings.TrimSpace(r.Name)
	return r
}

// Validate reports every invalid field of a normalized request.
func (r SignupRequest) Validate() error {
	var v httpapi.Validator
	v.Check(validEmail(r.Email), "email", "must be an email address of at most 254 characters")
	n := utf8.RuneCountInString(r.Password)
	v.Check(n >= 8 && n <= 128, "password", "must be 8 to 128 characters")
	v.Check(validName(r.Name), "name", "must be 1 to 100 characters without control characters")
	return v.Err()
}

// LoginRequest is the body of POST /api/v1/auth/login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Normalize returns r with the email in its stored form.
func (r LoginRequest) Normalize() LoginRequest {
	r.Email = NormalizeEmail(r.Email)
	return r
}

// Validate checks only what bounds the work of a login: a malformed email
// or a wrong password is a failed login (401), not a bad request.
func (r LoginRequest) Validate() error {
	var v httpapi.Validator
	v.Check(r.Email != "" && len(r.Email) <= maxEmail, "email", "is required (at most 254 characters)")
	n := utf8.RuneCountInString(r.Password)
	v.Check(n >= 1 && n <= 128, "password", "is required (at most 128 characters)")
	return v.Err()
}

// Token is the answer to a successful login.
type Token struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"` // seconds
}

// maxEmail is the longest address SMTP can carry (RFC 5321 path limit).
const maxEmail = 254

// NormalizeEmail returns email as it is stored: trimmed and lower-cased.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// validEmail reports whether email is a bare address (no display name, no
// angle brackets) of at most maxEmail bytes.
func validEmail(email string) bool {
	if email == "" || len(email) > maxEmail || hasControl(email) {
		return false
	}
	a, err := mail.ParseAddress(email)
	return err == nil && a.Address == email
}

// validName reports whether a trimmed name is 1 to 100 characters with no
// control characters.
func validName(name string) bool {
	n := utf8.RuneCountInString(name)
	return n >= 1 && n <= 100 && !hasControl(name)
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// Errors with stable codes.
var (
	errEmailTaken         = fault.New(fault.Conflict, "email_taken", "an account with this email already exists")
	errInvalidCredentials = fault.New(fault.Unauthorized, "invalid_credentials", "the email or password is wrong")
)
