package user

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/souk/souk/platform/sqlstore"
)

// Store is the user service's SQL.
type Store struct {
	db *sqlstore.DB
}

// NewStore returns a Store over db.
func NewStore(db *sqlstore.DB) *Store { return &Store{db: db} }

// querier is what both *sqlstore.DB and *sqlstore.Tx offer.
type querier interface {
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
}

// profile returns the profile id; found is false when there is none.
func (s *Store) profile(ctx context.Context, q querier, id string) (p Profile, found bool, err error) {
	var created, updated int64
	err = q.QueryRow(ctx, `SELECT id, email, name, role, created_at, updated_at FROM profiles WHERE id = ?`, id).
		Scan(&p.ID, &p.Email, &p.Name, &p.Role, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Profile{}, false, nil
	}
	if err != nil {
		return Profile{}, false, fmt.Errorf("get profile %s: %w", id, err)
	}
	p.CreatedAt, p.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	return p, true, nil
}

// upsertRegistered writes the profile of a registration: a new row, or on
// an existing one (made by read-repair) the fields auth owns. The name is
// left alone: the user may have changed it since.
func (s *Store) upsertRegistered(ctx context.Context, tx *sqlstore.Tx, p Profile) error {
	_, err := tx.Exec(ctx, `INSERT INTO profiles (id, email, name, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET email = excluded.email, role = excluded.role, updated_at = excluded.updated_at`,
		p.ID, p.Email, p.Name, p.Role, p.CreatedAt.UnixMilli(), p.UpdatedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("upsert profile %s: %w", p.ID, err)
	}
	return nil
}

// insertIfAbsent adds p unless a profile with its id exists.
func (s *Store) insertIfAbsent(ctx context.Context, tx *sqlstore.Tx, p Profile) error {
	_, err := tx.Exec(ctx, `INSERT INTO profiles (id, email, name, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING`,
		p.ID, p.Email, p.Name, p.Role, p.CreatedAt.UnixMilli(), p.UpdatedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("insert profile %s: %w", p.ID, err)
	}
	return nil
}

// setName changes the name of profile id.
func (s *Store) setName(ctx context.Context, id, name string, now time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE profiles SET name = ?, updated_at = ? WHERE id = ?`, name, now.UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("set name of %s: %w", id, err)
	}
	return nil
}
