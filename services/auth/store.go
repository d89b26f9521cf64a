package auth

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/sqlstore"
)

// Store is the auth service's SQL.
type Store struct {
	db *sqlstore.DB
}

// NewStore returns a Store over db.
func NewStore(db *sqlstore.DB) *Store { return &Store{db: db} }

// insertUser adds u with its password hash as part of tx: fault.Conflict
// (email_taken) when the email has an account.
func (s *Store) insertUser(ctx context.Context, tx *sqlstore.Tx, u User, hash string) error {
	_, err := tx.Exec(ctx, `INSERT INTO users (id, email, name, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.Name, u.Role, hash, u.CreatedAt.UnixMilli())
	if sqlstore.IsUniqueViolation(err) {
		return errEmailTaken
	}
	if err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	return nil
}

const userColumns = `id, email, name, role, created_at`

func scanUser(row interface{ Scan(...any) error }, extra ...any) (User, error) {
	var u User
	var created int64
	err := row.Scan(append([]any{&u.ID, &u.Email, &u.Name, &u.Role, &created}, extra...)...)
	u.CreatedAt = time.UnixMilli(created).UTC()
	return u, err
}

// credentials returns the account of a normalized email with its password
// hash; found is false when there is none.
func (s *Store) credentials(ctx context.Context, email string) (u User, hash string, found bool, err error) {
	u, err = scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE email = ?`, email), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, "", false, nil
	}
	if err != nil {
		return User{}, "", false, fmt.Errorf("get credentials: %w", err)
	}
	return u, hash, true, nil
}

// user returns the account id; found is false when there is none.
func (s *Store) user(ctx context.Context, id string) (u User, found bool, err error) {
	u, err = scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, false, nil
	}
	if err != nil {
		return User{}, false, fmt.Errorf("get user %s: %w", id, err)
	}
	return u, true, nil
}

// replaceHash swaps the password hash of id from old to new; it does
// nothing when the hash is no longer old (changed meanwhile).
func (s *Store) replaceHash(ctx context.Context, id, old, new string) error {
	_, err := s.db.Exec(ctx, `UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?`, new, id, old)
	if err != nil {
		return fmt.Errorf("replace hash of %s: %w", id, err)
	}
	return nil
}

// insertFirstKey adds key when there is no key at all. Two replicas of a
// PostgreSQL deployment starting at the same moment may both add one; the
// keyring then treats the older as rotated out, which logs nobody out.
func (s *Store) insertFirstKey(ctx context.Context, key Key) error {
	return s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM signing_keys`).Scan(&n); err != nil {
			return fmt.Errorf("count signing keys: %w", err)
		}
		if n > 0 {
			return nil
		}
		return writeKey(ctx, tx, key)
	})
}

// insertKey adds key.
func (s *Store) insertKey(ctx context.Context, key Key) error { return writeKey(ctx, s.db, key) }

// execer is what both *sqlstore.DB and *sqlstore.Tx offer.
type execer interface {
	Exec(ctx context.Context, q string, args ...any) (sql.Result, error)
}

func writeKey(ctx context.Context, q execer, key Key) error {
	_, err := q.Exec(ctx, `INSERT INTO signing_keys (kid, private_key, created_at, active_at) VALUES (?, ?, ?, ?)`,
		key.ID, key.Private.Seed(), key.Created.UnixMilli(), key.ActiveAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("insert signing key %s: %w", key.ID, err)
	}
	return nil
}

// liveKeys returns the keys not yet retired, in no particular order.
func (s *Store) liveKeys(ctx context.Context) ([]Key, error) {
	rows, err := s.db.Query(ctx, `SELECT kid, private_key, created_at, active_at FROM signing_keys WHERE retired_at IS NULL`)
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	defer rows.Close()
	var keys []Key
	for rows.Next() {
		var k Key
		var seed []byte
		var created, active int64
		if err := rows.Scan(&k.ID, &seed, &created, &active); err != nil {
			return nil, fmt.Errorf("load signing keys: %w", err)
		}
		if len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("load signing keys: key %s: seed of %d bytes", k.ID, len(seed))
		}
		k.SigningKey = authn.SigningKey{ID: k.ID, Private: ed25519.NewKeyFromSeed(seed), Created: time.UnixMilli(created).UTC()}
		k.ActiveAt = time.UnixMilli(active).UTC()
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	return keys, nil
}

// retireKey records that kid left the JWKS at the given time.
func (s *Store) retireKey(ctx context.Context, kid string, at time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE signing_keys SET retired_at = ? WHERE kid = ? AND retired_at IS NULL`, at.UnixMilli(), kid)
	if err != nil {
		return fmt.Errorf("retire signing key %s: %w", kid, err)
	}
	return nil
}
