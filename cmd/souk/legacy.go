package main

import (
	"context"
	"io"
	"strings"

	"github.com/souk/souk/legacy"
)

func init() {
	commands["legacy"] = command{"run a small legacy monolith to strangle (docs/strangler.md)", runLegacy}
}

func runLegacy(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("legacy", stderr)
	addr := fs.String("addr", envOr(getenv, "SOUK_LEGACY_ADDR", "127.0.0.1:9090"), "the listen address; port 0 picks a free one (SOUK_LEGACY_ADDR)")
	data := fs.String("data", envOr(getenv, "SOUK_LEGACY_DATA", ".souk-legacy"), "the folder of its SQLite database (SOUK_LEGACY_DATA)")
	database := fs.String("database", getenv("SOUK_LEGACY_DATABASE_URL"), "a postgres:// URL to use instead of SQLite (SOUK_LEGACY_DATABASE_URL)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if strings.HasPrefix(*addr, ":") {
		*addr = "127.0.0.1" + *addr
	}
	cfg := legacy.Config{Addr: *addr, DataDir: *data, DatabaseURL: *database, LogLevel: getenv("SOUK_LOG_LEVEL")}
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	return legacy.Run(ctx, cfg, stdout, stderr)
}
