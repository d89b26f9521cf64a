package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/souk/souk/tools/client"
	"github.com/souk/souk/tools/load"
	"github.com/souk/souk/tools/seed"
)

func init() {
	commands["load"] = command{"drive customer journeys at a fixed arrival rate and report latency", runLoad}
}

func runLoad(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("load", stderr)
	gateway := fs.String("gateway", defaultGateway(getenv), "the gateway's URL")
	rate := fs.Float64("rate", 0, "journeys started per second (required)")
	duration := fs.Duration("duration", 0, "how long to schedule arrivals, e.g. 30s (required)")
	mixFlag := fs.String("mix", load.DefaultMix, "journey weights: "+strings.Join(load.Journeys[:], ", "))
	asJSON := fs.Bool("json", false, "print one JSON object instead of the table")
	out := fs.String("out", "", "write latency over time as an SVG chart to this file")
	users := fs.Int("users", 50, "customers signed up and logged in before the run (for order, login and my_orders)")
	loginUsers := fs.Int("login-users", 0, "also log in the existing customers seed-1 ... seed-N@example.com (made by souk seed) before the run")
	loginPassword := fs.String("login-password", seed.Password, "the password of the --login-users customers")
	ordersOut := fs.String("orders-out", "", "append a JSON line per accepted or ambiguous order to this file")
	restock := fs.Bool("restock", true, "set every product's stock to 1000000 as the admin first, when the mix has orders")
	maxErrorRate := fs.Float64("max-error-rate", -1, "exit 1 when errors/requests exceeds this fraction (default: never)")
	maxInflight := fs.Int("max-inflight", 20000, "requests in flight at most; arrivals beyond are errors")
	conns := fs.Int("conns", 1024, "connections to the gateway at most")
	timeout := fs.Duration("timeout", 10*time.Second, "per request")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	switch {
	case !(*rate > 0):
		return usageError{"--rate is required and must be more than 0"}
	case *duration <= 0:
		return usageError{"--duration is required and must be more than 0"}
	case *users < 0 || *loginUsers < 0:
		return usageError{"--users and --login-users must be 0 or more"}
	case *maxInflight < 1 || *conns < 1 || *timeout <= 0:
		return usageError{"--max-inflight, --conns and --timeout must be more than 0"}
	case *maxErrorRate > 1:
		return usageError{"--max-error-rate is a fraction from 0 to 1"}
	}
	mix, err := load.ParseMix(*mixFlag)
	if err != nil {
		return usageError{err.Error()}
	}
	email, password := client.AdminCredentials(getenv)
	cfg := load.Config{
		Gateway:       *gateway,
		Rate:          *rate,
		Duration:      *duration,
		Mix:           mix,
		Users:         *users,
		Restock:       *restock,
		AdminEmail:    email,
		AdminPassword: password,
		MaxInflight:   *maxInflight,
		MaxConns:      *conns,
		Timeout:       *timeout,
		Progress:      stderr,
	}
	for i := 1; i <= *loginUsers; i++ {
		cfg.Accounts = append(cfg.Accounts, load.Account{Email: seed.Email(i), Password: *loginPassword})
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	if *ordersOut != "" {
		f, err := os.OpenFile(*ordersOut, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open orders file: %w", err)
		}
		defer f.Close()
		cfg.OrdersOut = f
	}

	rep, err := load.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(rep); err != nil {
			return err
		}
	} else if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if *out != "" {
		if err := writeSVG(*out, rep); err != nil {
			return err
		}
	}
	if *maxErrorRate >= 0 && rep.Requests > 0 {
		if r := float64(rep.Errors) / float64(rep.Requests); r > *maxErrorRate {
			return exitError{1, fmt.Sprintf("error rate %.4f exceeds --max-error-rate %g", r, *maxErrorRate)}
		}
	}
	return nil
}

func writeSVG(path string, rep *load.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	if err := load.WriteSVG(f, rep); err != nil {
		f.Close()
		return fmt.Errorf("write chart: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	return nil
}
