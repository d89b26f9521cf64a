package main

import (
	"context"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"

	"github.com/souk/souk/services/gateway"
)

func init() {
	commands["routes"] = command{"print the gateway's default route table as YAML, or check a routes file (routes check FILE)", runRoutes}
}

func runRoutes(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 2 && args[0] == "check" {
		table, err := gateway.LoadRoutes(args[1])
		if err != nil {
			return exitError{1, err.Error()}
		}
		fmt.Fprintf(stdout, "%s: %d routes, valid\n", args[1], len(table.Routes))
		return nil
	}
	if len(args) != 0 {
		return usageError{"usage: souk routes [check FILE]"}
	}
	out, err := yaml.Marshal(gateway.DefaultRoutes())
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, "# The gateway's default routes. Edit a copy and point SOUK_GATEWAY_ROUTES at it;\n# the gateway reloads it when it changes (docs/strangler.md).\n")
	_, err = stdout.Write(out)
	return err
}
