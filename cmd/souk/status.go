package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/souk/souk/tools/client"
)

func init() {
	commands["status"] = command{"show services, instances, pids, health and breaker states", runStatus}
}

func runStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("status", stderr)
	gateway := fs.String("gateway", defaultGateway(getenv), "the gateway's URL")
	asJSON := fs.Bool("json", false, "print JSON")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := client.New(*gateway)
	if err := c.LoginAdmin(ctx, getenv); err != nil {
		return err
	}
	var st struct {
		Services map[string]struct {
			Breaker   string `json:"breaker,omitempty"`
			Instances []struct {
				ID       string `json:"id"`
				Addr     string `json:"addr"`
				PID      int    `json:"pid,omitempty"`
				Healthy  bool   `json:"healthy"`
				Restarts int    `json:"restarts,omitempty"`
				Reason   string `json:"reason,omitempty"`
			} `json:"instances"`
		} `json:"services"`
	}
	raw, err := c.Get(ctx, "/api/v1/admin/status", &st)
	if err != nil {
		return err
	}
	if *asJSON {
		var pretty any
		_ = json.Unmarshal(raw, &pretty)
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(pretty)
	}
	names := make([]string, 0, len(st.Services))
	for n := range st.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tINSTANCE\tADDR\tPID\tHEALTH\tRESTARTS\tBREAKER")
	unhealthy := 0
	for _, n := range names {
		s := st.Services[n]
		if len(s.Instances) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\tDOWN\t-\t%s\n", n, s.Breaker)
			unhealthy++
			continue
		}
		for _, in := range s.Instances {
			health := "healthy"
			if !in.Healthy {
				health = "UNHEALTHY " + in.Reason
				unhealthy++
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\n", n, in.ID, in.Addr, in.PID, health, in.Restarts, s.Breaker)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if unhealthy > 0 {
		return exitError{1, fmt.Sprintf("%d instance(s) or service(s) not healthy", unhealthy)}
	}
	return nil
}

// defaultGateway is the gateway URL from SOUK_GATEWAY or SOUK_ADDR.
func defaultGateway(getenv func(string) string) string {
	if v := getenv("SOUK_GATEWAY"); v != "" {
		return v
	}
	addr := envOr(getenv, "SOUK_ADDR", "127.0.0.1:8080")
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	return "http://" + addr
}
