package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/souk/souk/launcher"
)

func init() {
	commands["up"] = command{"start the whole system on this machine (embedded broker, one process per instance)", runUp}
}

func runUp(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("up", stderr)
	addr := fs.String("addr", envOr(getenv, "SOUK_ADDR", "127.0.0.1:8080"), "the gateway's listen address (SOUK_ADDR)")
	data := fs.String("data", envOr(getenv, "SOUK_DATA", ".souk"), "the data folder: databases, broker store, logs (SOUK_DATA)")
	replicas := fs.String("replicas", "", "instances per service, e.g. order=2,inventory=3")
	durability := fs.String("durability", envOr(getenv, "SOUK_DURABILITY", "normal"), "normal (survives process crashes) or strict (also power loss; fsync on every commit)")
	quiet := fs.Bool("quiet", false, "keep service logs in their files only")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	reps, err := launcher.ParseReplicas(*replicas)
	if err != nil {
		return usageError{err.Error()}
	}
	if *durability != "normal" && *durability != "strict" {
		return usageError{fmt.Sprintf("--durability %q: want normal or strict", *durability)}
	}
	if strings.HasPrefix(*addr, ":") {
		*addr = "127.0.0.1" + *addr
	}
	if getenv("GOMAXPROCS") == "" {
		// This process runs the embedded broker beside a dozen others.
		runtime.GOMAXPROCS(launcher.ChildProcs(runtime.NumCPU()))
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	return launcher.Run(ctx, launcher.Config{
		Addr:       *addr,
		DataDir:    *data,
		Replicas:   reps,
		Executable: exe,
		NATSURL:    getenv("SOUK_NATS_URL"),
		Durability: *durability,
		Env:        os.Environ(),
		Stdout:     stdout,
		Quiet:      *quiet,
	})
}
