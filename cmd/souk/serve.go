package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/souk/souk/services/auth"
	"github.com/souk/souk/services/catalog"
	"github.com/souk/souk/services/gateway"
	"github.com/souk/souk/services/inventory"
	"github.com/souk/souk/services/notification"
	"github.com/souk/souk/services/order"
	"github.com/souk/souk/services/payment"
	"github.com/souk/souk/services/recommendation"
	"github.com/souk/souk/services/search"
	"github.com/souk/souk/services/user"
	"github.com/souk/souk/services/warehouse"
)

// serviceMain is the entry point of one service: it reads its settings
// with getenv, logs to stderr, and runs until ctx is done.
type serviceMain func(ctx context.Context, getenv func(string) string, stderr io.Writer) error

var serviceMains = map[string]serviceMain{
	"auth":           auth.Run,
	"user":           user.Run,
	"catalog":        catalog.Run,
	"search":         search.Run,
	"inventory":      inventory.Run,
	"order":          order.Run,
	"payment":        payment.Run,
	"notification":   notification.Run,
	"warehouse":      warehouse.Run,
	"recommendation": recommendation.Run,
	"gateway":        gateway.Run,
}

func init() {
	commands["serve"] = command{"run one service instance (used by souk up, containers and pods)", runServe}
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	names := make([]string, 0, len(serviceMains))
	for n := range serviceMains {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) != 1 {
		return usageError{"usage: souk serve SERVICE (one of " + strings.Join(names, ", ") + ")"}
	}
	main, ok := serviceMains[args[0]]
	if !ok {
		return usageError{fmt.Sprintf("unknown service %q (one of %s)", args[0], strings.Join(names, ", "))}
	}
	return main(ctx, getenv, stderr)
}
