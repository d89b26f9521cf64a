package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/souk/souk/tools/client"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// TestUpStatusStop checks the launcher's contract: one process per instance
// on its own port with its own database, health endpoints, `souk status`,
// and a graceful stop within 5 s that leaves no process behind.
func TestUpStatusStop(t *testing.T) {
	sys := start(t, []string{"--replicas", "order=2,inventory=3"})
	st := sys.status()
	pids := map[int]string{}
	addrs := map[string]string{}
	for _, svc := range []string{"gateway", "auth", "user", "catalog", "search", "inventory", "order", "payment", "notification", "warehouse", "recommendation"} {
		want := map[string]int{"order": 2, "inventory": 3}[svc]
		if want == 0 {
			want = 1
		}
		ins := st.Services[svc].Instances
		if len(ins) != want {
			t.Errorf("%s: %d instances, want %d", svc, len(ins), want)
		}
		for _, in := range ins {
			if !in.Healthy || in.PID == 0 || !pidAlive(in.PID) {
				t.Errorf("%s: %+v not a healthy live process", svc, in)
			}
			if other, dup := pids[in.PID]; dup {
				t.Errorf("%s shares pid %d with %s", in.ID, in.PID, other)
			}
			if other, dup := addrs[in.Addr]; dup {
				t.Errorf("%s shares address %s with %s", in.ID, in.Addr, other)
			}
			pids[in.PID], addrs[in.Addr] = in.ID, in.ID
			if !strings.HasPrefix(in.Addr, "127.0.0.1:") {
				t.Errorf("%s listens on %s, want loopback", in.ID, in.Addr)
			}
			if svc == "gateway" {
				continue
			}
			for _, path := range []string{"/health/live", "/health/ready", "/metrics"} {
				resp, err := httpClient.Get("http://" + in.Addr + path)
				if err != nil || resp.StatusCode != 200 {
					t.Errorf("%s %s: %v %v", in.ID, path, resp, err)
					continue
				}
				resp.Body.Close()
			}
		}
	}
	for _, port := range []string{":4222", ":5432", ":6379", ":5672", ":3306", ":1883"} {
		if strings.Contains(sys.out.String(), "127.0.0.1"+port+" ") {
			t.Errorf("something bound the standard port %s", port)
		}
	}

	// The text form prints a table.
	out, err := exec.Command(binary, "status", "--gateway", sys.URL).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "inventory-3") || !strings.Contains(string(out), "healthy") {
		t.Errorf("souk status: %v\n%s", err, out)
	}

	took := sys.stop()
	if took > 5*time.Second {
		t.Errorf("stop took %v, want within 5s", took)
	}
	if !strings.Contains(sys.out.String(), "souk stopped") {
		t.Error("no 'souk stopped' line")
	}
	for pid, id := range pids {
		if pidAlive(pid) {
			t.Errorf("%s (pid %d) still alive after stop", id, pid)
		}
	}
}

// TestLoadSpreads runs order and inventory with replicas and checks that
// concurrent checkout traffic reaches every instance. (Strictly sequential
// calls would all go to the fastest instance: with nothing in flight, the
// balancer's tie-breaker is latency.)
func TestLoadSpreads(t *testing.T) {
	sys := start(t, []string{"--replicas", "order=2,inventory=3"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	anon := client.New(sys.URL)
	if _, err := sys.admin.JSON(ctx, "PUT", "/api/v1/inventory/4502", map[string]int{"available": 10000}, nil); err != nil {
		t.Fatalf("restock: %v", err)
	}
	// Every buyer signs up first (a signup hashes a password: ~100 ms),
	// then all start together; started one by one, each would finish its
	// orders before the next began, and sequential calls all go to the
	// fastest instance.
	users := make([]*client.Client, 6)
	for w := range users {
		users[w] = sys.user(ctx, fmt.Sprintf("Buyer%d", w))
	}
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if _, err := u.JSON(ctx, "POST", "/api/v1/orders", orderBody("4502", 1, goodCard), nil); err != nil {
					t.Errorf("order: %v", err)
					return
				}
				if _, err := anon.Get(ctx, "/api/v1/products/4502", nil); err != nil {
					t.Errorf("product page: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := sys.status()
	for _, svc := range []string{"order", "inventory"} {
		for _, in := range st.Services[svc].Instances {
			n := served(t, in.Addr)
			if n < 3 {
				t.Errorf("%s served %d API requests, want its share", in.ID, n)
			}
			t.Logf("%s served %d requests", in.ID, n)
		}
	}
}

// served sums the requests an instance answered on /api and /internal
// routes, from its own /metrics.
func served(t *testing.T, addr string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	total := 0
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "souk_http_requests_total{") || !(strings.Contains(line, "/api/") || strings.Contains(line, "/internal/")) {
			continue
		}
		var v float64
		fields := strings.Fields(line)
		fmt.Sscan(fields[len(fields)-1], &v)
		total += int(v)
	}
	return total
}

// TestUpRefusesABusyAddress: a second `souk up` on the same gateway address
// fails at once with a clear message instead of crash-looping.
func TestUpRefusesABusyAddress(t *testing.T) {
	sys := start(t, nil)
	addr := strings.TrimPrefix(sys.URL, "http://")
	out, err := exec.Command(binary, "up", "--addr", addr, "--data", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not available") {
		t.Fatalf("second souk up on %s: %v\n%s", addr, err, out)
	}
}
