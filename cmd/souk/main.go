// Command souk is the one binary of Souk: every service (souk serve NAME),
// the launcher (souk up), and the tools (status, load, chaos, verify, dlq).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "souk:", err)
		os.Exit(exitCode(err))
	}
}
