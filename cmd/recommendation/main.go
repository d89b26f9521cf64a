// Command recommendation runs one instance of the recommendation service,
// configured by the environment (see package recommendation and
// platform/boot).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/souk/souk/services/recommendation"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := recommendation.Run(ctx, os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "recommendation:", err)
		stop()
		os.Exit(1)
	}
}
