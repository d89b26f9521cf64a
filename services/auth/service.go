package auth

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
)

// Config tunes the auth service.
type Config struct {
	TokenTTL     time.Duration // lifetime of user tokens
	PublishDelay time.Duration // from a key's creation to its first signature
	Argon2       Argon2Params  // for new hashes
	MaxHashes    int           // password hashes running at once
}

// DefaultConfig returns the defaults documented in the package doc.
func DefaultConfig() Config {
	return Config{
		TokenTTL:     15 * time.Minute,
		PublishDelay: 2 * time.Second,
		Argon2:       DefaultArgon2,
		MaxHashes:    2 * runtime.GOMAXPROCS(0),
	}
}

// Service holds the auth use cases.
type Service struct {
	db     *sqlstore.DB
	store  *Store
	keys   *Keyring
	hasher *Hasher
	now    func() time.Time
	ttl    time.Duration
	notify func() // wakes the outbox relay after a commit
	log    *slog.Logger
	// dummyHash is verified against when a login names an unknown email.
	dummyHash string
}

// NewService loads the signing keys (creating the first one in an empty
// database) and returns a Service. notify may be nil.
func NewService(ctx context.Context, db *sqlstore.DB, now func() time.Time, cfg Config, notify func(), log *slog.Logger) (*Service, error) {
	if notify == nil {
		notify = func() {}
	}
	store := NewStore(db)
	s := &Service{
		db: db, store: store, now: now, ttl: cfg.TokenTTL, notify: notify, log: log,
		keys:   NewKeyring(store, now, cfg.TokenTTL, cfg.PublishDelay, log),
		hasher: NewHasher(cfg.Argon2, cfg.MaxHashes),
	}
	if err := s.keys.Load(ctx); err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	var err error
	if s.dummyHash, err = s.hasher.Hash(ctx, rand.Text()); err != nil {
		return nil, fmt.Errorf("dummy hash: %w", err)
	}
	return s, nil
}

// Keys returns the service's signing keys.
func (s *Service) Keys() *Keyring { return s.keys }

// Signup creates a customer account and publishes USER_REGISTERED with it.
// Errors: fault.Invalid with a message per field, fault.Conflict
// (email_taken).
func (s *Service) Signup(ctx context.Context, req SignupRequest) (User, error) {
	req = req.Normalize()
	if err := req.Validate(); err != nil {
		return User{}, err
	}
	u := s.newUser(req, authn.RoleCustomer)
	if err := s.create(ctx, u, req.Password); err != nil {
		return User{}, fmt.Errorf("signup: %w", err)
	}
	return u, nil
}

func (s *Service) newUser(req SignupRequest, role string) User {
	return User{
		ID: uuid.Must(uuid.NewV7()).String(), Email: req.Email, Name: req.Name, Role: role,
		CreatedAt: s.now().UTC().Truncate(time.Millisecond),
	}
}

// create stores u with the hash of password and its USER_REGISTERED event
// in one transaction. The hash is made first, outside the transaction.
func (s *Service) create(ctx context.Context, u User, password string) error {
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	err = s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		if err := s.store.insertUser(ctx, tx, u, hash); err != nil {
			return err
		}
		return publishRegistered(ctx, tx, u)
	})
	if err != nil {
		return err
	}
	s.notify()
	return nil
}

// Login checks a password and returns a token signed with the current key.
// Errors: fault.Invalid for a missing or oversized field,
// fault.Unauthorized (invalid_credentials) for an unknown email or a wrong
// password alike, fault.Unavailable when too many logins wait for hashing.
func (s *Service) Login(ctx context.Context, req LoginRequest) (Token, error) {
	req = req.Normalize()
	if err := req.Validate(); err != nil {
		return Token{}, err
	}
	u, hash, found, err := s.store.credentials(ctx, req.Email)
	if err != nil {
		return Token{}, fmt.Errorf("login: %w", err)
	}
	if !found {
		// The same work as for a real account, so the timing of the answer
		// does not tell which emails have one.
		if _, _, err := s.hasher.Verify(ctx, req.Password, s.dummyHash); err != nil {
			return Token{}, fmt.Errorf("login: %w", err)
		}
		return Token{}, errInvalidCredentials
	}
	ok, rehash, err := s.hasher.Verify(ctx, req.Password, hash)
	if err != nil {
		return Token{}, fmt.Errorf("login %s: %w", u.ID, err)
	}
	if !ok {
		return Token{}, errInvalidCredentials
	}
	if rehash {
		s.upgradeHash(ctx, u.ID, hash, req.Password)
	}
	return s.issue(u)
}

// upgradeHash replaces a hash made with old parameters, now that the
// password is known. A failure only delays the upgrade to the next login.
func (s *Service) upgradeHash(ctx context.Context, id, old, password string) {
	hash, err := s.hasher.Hash(ctx, password)
	if err == nil {
		err = s.store.replaceHash(ctx, id, old, hash)
	}
	if err != nil {
		s.log.WarnContext(ctx, "upgrade password hash", "user", id, "err", err)
	}
}

func (s *Service) issue(u User) (Token, error) {
	key, err := s.keys.Signer()
	if err != nil {
		return Token{}, err
	}
	tok, err := authn.SignUser(key, u.ID, u.Email, u.Name, u.Role, s.now(), s.ttl)
	if err != nil {
		return Token{}, err
	}
	return Token{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(s.ttl / time.Second)}, nil
}

// AdminName is the name of the admin account made at first start.
const AdminName = "Admin"

// EnsureAdmin creates the admin account with email and password unless an
// account with that email exists, which is left untouched. It reports
// whether it created the account; when another replica creates it at the
// same moment, exactly one of them does. Errors: fault.Invalid when email
// or password would not be accepted at sign-up.
func (s *Service) EnsureAdmin(ctx context.Context, email, password string) (created bool, err error) {
	req := SignupRequest{Email: email, Password: password, Name: AdminName}.Normalize()
	if err := req.Validate(); err != nil {
		return false, fmt.Errorf("admin account: %w", err)
	}
	existing, _, found, err := s.store.credentials(ctx, req.Email)
	if err != nil {
		return false, fmt.Errorf("admin account: %w", err)
	}
	if found {
		if existing.Role != authn.RoleAdmin {
			s.log.WarnContext(ctx, "the admin email belongs to a customer account; no admin account created", "user", existing.ID)
		}
		return false, nil
	}
	err = s.create(ctx, s.newUser(req, authn.RoleAdmin), req.Password)
	if fault.HasCode(err, errEmailTaken.Code) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("admin account: %w", err)
	}
	return true, nil
}

// User returns the account id. Errors: fault.Invalid for an id over 64
// characters, fault.NotFound.
func (s *Service) User(ctx context.Context, id string) (User, error) {
	if id == "" || len(id) > 64 {
		return User{}, fault.Invalidf("the user id must be 1 to 64 characters")
	}
	u, found, err := s.store.user(ctx, id)
	if err != nil {
		return User{}, err
	}
	if !found {
		return User{}, fault.NotFoundf("no user %s", id)
	}
	return u, nil
}

// JWKS returns the published public keys.
func (s *Service) JWKS() authn.JWKSet {
	return authn.PublicJWKS(signingKeys(s.keys.Published()))
}

// RotateKey adds a signing key; see Keyring.Rotate.
func (s *Service) RotateKey(ctx context.Context) (KeyInfo, error) {
	key, err := s.keys.Rotate(ctx)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("rotate key: %w", err)
	}
	return key.info(), nil
}
