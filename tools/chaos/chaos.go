// Package chaos kills service instances at random while a system runs, the
// way `souk chaos` does: every interval it picks a running instance and
// asks the launcher, through the gateway's admin API, to SIGKILL it. The
// launcher restarts it as it would after any crash.
//
// The gateway is spared unless asked for: it is the one entry point, so
// killing it measures the clients' patience rather than the system's
// resilience (in a cluster there would be several behind a balancer).
package chaos

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/souk/souk/tools/client"
)

// Options configures a run.
type Options struct {
	Every    time.Duration // time between kills
	Duration time.Duration // how long to run
	// Services limits the victims to these services; empty means all but
	// the gateway (and all with IncludeGateway).
	Services       []string
	IncludeGateway bool
	Seed           uint64 // 0: random
	Out            io.Writer
}

// Kill is one kill done.
type Kill struct {
	At       time.Time `json:"at"`
	Instance string    `json:"instance"`
	Service  string    `json:"service"`
	PID      int       `json:"pid"`
}

type instance struct {
	ID      string `json:"id"`
	PID     int    `json:"pid"`
	Healthy bool   `json:"healthy"`
}

type status struct {
	Services map[string]struct {
		Instances []instance `json:"instances"`
	} `json:"services"`
}

// Run kills an instance every opts.Every until opts.Duration has passed or
// ctx ends, and returns what it killed. A failed kill (the instance was
// restarting, the gateway was busy) is printed and skipped.
func Run(ctx context.Context, admin *client.Client, opts Options) ([]Kill, error) {
	if opts.Every <= 0 || opts.Duration <= 0 {
		return nil, fmt.Errorf("chaos: --kill-every and --duration must be positive")
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	allowed := map[string]bool{}
	for _, s := range opts.Services {
		allowed[s] = true
	}
	fmt.Fprintf(opts.Out, "chaos: killing an instance every %v for %v (seed %d)\n", opts.Every, opts.Duration, seed)

	deadline := time.Now().Add(opts.Duration)
	tick := time.NewTicker(opts.Every)
	defer tick.Stop()
	var kills []Kill
	for {
		select {
		case <-ctx.Done():
			return kills, nil
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return kills, nil
		}
		victims, err := candidates(ctx, admin, allowed, opts.IncludeGateway)
		if err != nil {
			fmt.Fprintf(opts.Out, "chaos: %s: cannot list instances: %v\n", time.Now().Format("15:04:05.000"), err)
			continue
		}
		if len(victims) == 0 {
			fmt.Fprintf(opts.Out, "chaos: %s: no running instance to kill\n", time.Now().Format("15:04:05.000"))
			continue
		}
		v := victims[rng.IntN(len(victims))]
		kctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err = admin.JSON(kctx, "POST", "/api/v1/admin/instances/"+v.id+"/kill", nil, nil)
		cancel()
		now := time.Now()
		if err != nil {
			fmt.Fprintf(opts.Out, "chaos: %s: kill %s failed: %v\n", now.Format("15:04:05.000"), v.id, err)
			continue
		}
		kills = append(kills, Kill{At: now, Instance: v.id, Service: v.service, PID: v.pid})
		fmt.Fprintf(opts.Out, "chaos: %s: killed %s (pid %d)\n", now.Format("15:04:05.000"), v.id, v.pid)
	}
}

type victim struct {
	service, id string
	pid         int
}

func candidates(ctx context.Context, admin *client.Client, allowed map[string]bool, gateway bool) ([]victim, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var st status
	if _, err := admin.Get(ctx, "/api/v1/admin/status", &st); err != nil {
		return nil, err
	}
	var out []victim
	for svc, s := range st.Services {
		if svc == "gateway" && !gateway {
			continue
		}
		if len(allowed) > 0 && !allowed[svc] {
			continue
		}
		for _, in := range s.Instances {
			if in.Healthy && in.PID > 0 {
				out = append(out, victim{service: svc, id: in.ID, pid: in.PID})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

// Summary counts kills per service.
func Summary(kills []Kill) map[string]int {
	out := map[string]int{}
	for _, k := range kills {
		out[k.Service]++
	}
	return out
}
