package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/souk/souk/platform/boot"
	"github.com/souk/souk/services/auth"
	"github.com/souk/souk/tools/seed"
)

func init() {
	commands["seed"] = command{"fill a stopped system's databases with users and confirmed orders (for growth benchmarks)", runSeed}
}

func runSeed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("seed", stderr)
	data := fs.String("data", envOr(getenv, "SOUK_DATA", ".souk"), "the data folder of the stopped system (SOUK_DATA); SOUK_<SERVICE>_DATABASE_URL wins per service")
	users := fs.Int("users", 0, "users to create: seed-<i>@example.com, password "+seed.Password)
	orders := fs.Int("orders", 0, "confirmed orders to spread over the users")
	batch := fs.Int("batch", seed.DefaultBatch, "users or orders per transaction")
	rngSeed := fs.Uint64("seed", 1, "random seed: the same seed gives the same data")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	explain := fs.Bool("explain", false, "seed nothing: print the plans and timings of the hot queries on the stopped store (migrating it as souk up would)")
	runs := fs.Int("runs", 200, "with --explain: timed runs per query")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	dsn := func(service string) string {
		return boot.Config{Service: service, DataDir: *data, DatabaseURL: getenv("SOUK_" + strings.ToUpper(service) + "_DATABASE_URL")}.DatabaseDSN()
	}
	if *explain {
		if *runs < 1 {
			return usageError{"--runs must be 1 or more"}
		}
		plans, err := seed.Explain(ctx, dsn, *runs)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(plans)
		}
		return seed.WritePlans(stdout, plans)
	}
	switch {
	case *users < 1:
		return usageError{"--users is required and must be 1 or more"}
	case *orders < 0:
		return usageError{"--orders must be 0 or more"}
	case *batch < 1 || *batch > seed.MaxBatch:
		return usageError{fmt.Sprintf("--batch must be 1 to %d", seed.MaxBatch)}
	case *rngSeed == 0:
		return usageError{"--seed must not be 0"}
	}
	params := auth.DefaultArgon2
	if v := getenv("SOUK_AUTH_ARGON2"); v != "" {
		p, err := auth.ParseArgon2Params(v)
		if err != nil {
			return usageError{fmt.Sprintf("SOUK_AUTH_ARGON2: %v", err)}
		}
		params = p
	}
	rep, err := seed.Run(ctx, seed.Config{
		DSN: dsn, Users: *users, Orders: *orders, Batch: *batch, Seed: *rngSeed,
		Argon2: params, Progress: stderr,
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	fmt.Fprintf(stdout, "seeded %d users and %d orders: %d rows in %.1fs (%.0f rows/s)\n",
		rep.Users, rep.Orders, rep.TotalRows, rep.Seconds, rep.RowsPerSecond)
	for _, svc := range seed.Services {
		fmt.Fprintf(stdout, "  %-13s %10d rows\n", svc, rep.Rows[svc])
	}
	fmt.Fprintf(stdout, "log in as %s ... %s with the password %s\n", seed.Email(1), seed.Email(rep.Users), seed.Password)
	return nil
}
