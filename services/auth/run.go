package auth

import (
	"context"
	"crypto/ed25519"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/souk/souk/platform/boot"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the auth service's schema.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// The admin account made at first start when the environment names none.
const (
	DefaultAdminEmail    = "admin@souk.local"
	DefaultAdminPassword = "souk-admin-password"
)

// Run runs one auth instance until ctx is done.
func Run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := boot.ConfigFromEnv("auth", getenv)
	if err != nil {
		return err
	}
	conf, err := configFromEnv(cfg.Getenv)
	if err != nil {
		return err
	}
	// The verifier looks keys up only once requests arrive, which is after
	// svc is set below.
	var svc *Service
	keys := func(kid string) (ed25519.PublicKey, bool) { return svc.keys.PublicKey(kid) }
	in, err := boot.Start(ctx, cfg, boot.Spec{Migrations: Migrations(), Publishes: true, Keys: keys}, stderr)
	if err != nil {
		return err
	}
	relay := in.Outbox()
	if svc, err = NewService(ctx, in.DB, time.Now, conf, relay.Notify, in.Log); err != nil {
		return err
	}
	if err := ensureAdmin(ctx, svc, cfg.Getenv, in.Log); err != nil {
		return err
	}
	in.Go(svc.keys.Run)
	return in.Run(ctx, NewHandler(svc, in.Log))
}

// configFromEnv reads the auth settings over DefaultConfig.
func configFromEnv(getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	var err error
	if c.TokenTTL, err = durationEnv(getenv, "SOUK_AUTH_TOKEN_TTL", c.TokenTTL, time.Minute, 24*time.Hour); err != nil {
		return c, err
	}
	if c.PublishDelay, err = durationEnv(getenv, "SOUK_AUTH_KEY_PUBLISH_DELAY", c.PublishDelay, 0, time.Minute); err != nil {
		return c, err
	}
	if v := getenv("SOUK_AUTH_ARGON2"); v != "" {
		if c.Argon2, err = ParseArgon2Params(v); err != nil {
			return c, fmt.Errorf("SOUK_AUTH_ARGON2: %w", err)
		}
	}
	return c, nil
}

func durationEnv(getenv func(string) string, name string, def, lo, hi time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		return 0, fmt.Errorf("%s is %q, want a duration from %v to %v", name, v, lo, hi)
	}
	return d, nil
}

func ensureAdmin(ctx context.Context, svc *Service, getenv func(string) string, log *slog.Logger) error {
	email, password := getenv("SOUK_ADMIN_EMAIL"), getenv("SOUK_ADMIN_PASSWORD")
	if email == "" {
		email = DefaultAdminEmail
	}
	if password == "" {
		password = DefaultAdminPassword
		log.Warn("SOUK_ADMIN_PASSWORD is not set: the admin account, if created now, gets the documented default password; set one outside development")
	}
	created, err := svc.EnsureAdmin(ctx, email, password)
	if err != nil {
		return err
	}
	if created {
		log.Info("admin account created", "email", NormalizeEmail(email))
	}
	return nil
}
