// Command eventlag is the Go half of bench/eventlag.sh, which measures the
// event lag ORDER_PLACED commit → confirmation email stored
// (docs/benchmarks.md, "Event lag"). Subcommands:
//
//	eventlag isolated [flags]   the event path alone, at a fixed rate
//	eventlag scrape DIR         fetch /metrics of the notification instances in DIR/status.json
//	eventlag system DIR RATE    the lag of one `souk up` run, from its databases
//	eventlag summary OUT        min/median/max over the rounds in OUT
//
// isolated publishes ORDER_PLACED events to an embedded NATS JetStream broker
// and consumes them with the notification service's own consumers (same
// config, handlers and SQLite schema), timing each event from its publish
// (mode direct) or from the commit of its outbox row (mode outbox, relayed
// by platform/outbox with the services' defaults) to the moment the handler
// returned, i.e. the email committed. It isolates broker + relay + consumer
// lag from checkout capacity: no gateway, saga, inventory or payment runs.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "eventlag:", err)
		os.Exit(1)
	}
}

const usage = "usage: eventlag isolated [flags] | scrape DIR | system DIR RATE | summary OUT"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", usage)
	}
	switch cmd, rest := args[0], args[1:]; {
	case cmd == "isolated":
		return runIsolated(ctx, rest, stdout, stderr)
	case cmd == "scrape" && len(rest) == 1:
		return scrape(ctx, rest[0])
	case cmd == "system" && len(rest) == 2:
		return runSystem(rest[0], rest[1], stdout)
	case cmd == "summary" && len(rest) == 1:
		return summary(rest[0], stdout)
	}
	return fmt.Errorf("%s", usage)
}
