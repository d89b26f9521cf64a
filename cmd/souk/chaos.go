package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/souk/souk/tools/chaos"
	"github.com/souk/souk/tools/client"
)

func init() {
	commands["chaos"] = command{"kill random service instances (SIGKILL, through the launcher) for a while", runChaos}
}

func runChaos(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("chaos", stderr)
	gateway := fs.String("gateway", defaultGateway(getenv), "the gateway's URL")
	duration := fs.Duration("duration", 30*time.Second, "how long to run")
	every := fs.Duration("kill-every", 2*time.Second, "time between kills")
	services := fs.String("services", "", "only these services, comma-separated (default: all but the gateway)")
	withGateway := fs.Bool("include-gateway", false, "also kill the gateway")
	seed := fs.Uint64("seed", 0, "random seed (0: random)")
	asJSON := fs.Bool("json", false, "print the kills as JSON at the end")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *duration <= 0 || *every <= 0 {
		return usageError{"--duration and --kill-every must be positive"}
	}
	var only []string
	if *services != "" {
		only = strings.Split(*services, ",")
	}
	c := client.New(*gateway)
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := c.LoginAdmin(lctx, getenv)
	cancel()
	if err != nil {
		return err
	}
	kills, err := chaos.Run(ctx, c, chaos.Options{Every: *every, Duration: *duration, Services: only, IncludeGateway: *withGateway, Seed: *seed, Out: stderr})
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"kills": kills, "by_service": chaos.Summary(kills)})
	}
	by := chaos.Summary(kills)
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(stdout, "killed %d instances:", len(kills))
	for _, n := range names {
		fmt.Fprintf(stdout, " %s=%d", n, by[n])
	}
	fmt.Fprintln(stdout)
	return nil
}
