package launcher

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/souk/souk/services"
)

// Services lists every service in start order; the gateway comes last so
// that its first requests find the others registered.
var Services = append(append([]string(nil), services.All...), services.Gateway)

// Config configures Run.
type Config struct {
	Addr       string         // the gateway's address, 127.0.0.1:8080
	DataDir    string         // where databases, the broker store and logs live
	Replicas   map[string]int // instances per service, default 1
	Executable string         // the souk binary to start children from
	NATSURL    string         // an external broker; empty starts the embedded one
	Durability string         // normal or strict
	Env        []string       // the base environment of children
	Stdout     io.Writer      // the ready line and the children's logs
	Quiet      bool           // keep children's logs in their files only
	// ReadyTimeout bounds the wait for every instance (default 60s).
	ReadyTimeout time.Duration
}

// ParseReplicas parses "order=2,inventory=3".
func ParseReplicas(s string) (map[string]int, error) {
	out := map[string]int{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	known := map[string]bool{}
	for _, svc := range Services {
		known[svc] = true
	}
	for _, item := range strings.Split(s, ",") {
		name, n, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return nil, fmt.Errorf("--replicas: %q is not service=count", item)
		}
		if !known[name] {
			return nil, fmt.Errorf("--replicas: unknown service %q (one of %s)", name, strings.Join(Services, ", "))
		}
		count, err := strconv.Atoi(n)
		if err != nil || count < 1 || count > 16 {
			return nil, fmt.Errorf("--replicas: %s=%s: want a count from 1 to 16", name, n)
		}
		if name == "gateway" && count != 1 {
			return nil, fmt.Errorf("--replicas: the gateway owns the fixed address %s; run one (scale it behind an L4 balancer in a cluster)", "--addr")
		}
		out[name] = count
	}
	return out, nil
}

// instanceSpec is one process to supervise.
type instanceSpec struct {
	service string
	id      string
}

func (c Config) instances() []instanceSpec {
	var out []instanceSpec
	for _, svc := range Services {
		n := c.Replicas[svc]
		if n < 1 {
			n = 1
		}
		for i := 1; i <= n; i++ {
			out = append(out, instanceSpec{service: svc, id: fmt.Sprintf("%s-%d", svc, i)})
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
