package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// loadReport is the part of `souk load --json` the tests read.
type loadReport struct {
	Requests      *int64   `json:"requests"`
	Errors        *int64   `json:"errors"`
	ThroughputRPS *float64 `json:"throughput_rps"`
	DurationS     *float64 `json:"duration_s"`
	Rate          *float64 `json:"rate"`
	Latency       *struct {
		P50, P90, P99, P999, Max *float64
	} `json:"latency_ms"`
	Steps map[string]struct {
		Requests int64 `json:"requests"`
		Errors   int64 `json:"errors"`
	} `json:"steps"`
	ErrorsBy map[string]int64 `json:"errors_by"`
	Orders   *struct {
		Accepted, Confirmed, Pending, Rejected int64
	} `json:"orders"`
}

// TestLoadAgainstSystem drives the default mix through a real system for
// 3 s: no errors, every documented field, one line per accepted order, and
// `souk verify --expect` finds every one of them with the invariants
// holding.
func TestLoadAgainstSystem(t *testing.T) {
	sys := start(t, nil)
	orders := filepath.Join(t.TempDir(), "orders.jsonl")
	cmd := exec.Command(binary, "load", "--gateway", sys.URL, "--rate", "50", "--duration", "3s", "--json", "--users", "20", "--orders-out", orders)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("souk load: %v\nstderr:\n%s", err, stderr.String())
	}
	var rep loadReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("souk load printed %q: %v", out, err)
	}
	if rep.Requests == nil || rep.Errors == nil || rep.ThroughputRPS == nil || rep.DurationS == nil || rep.Rate == nil ||
		rep.Latency == nil || rep.Latency.P50 == nil || rep.Latency.P999 == nil || rep.Latency.Max == nil || rep.Orders == nil || rep.ErrorsBy == nil {
		t.Fatalf("a documented field is missing:\n%s", out)
	}
	if *rep.Requests < 150 || *rep.Errors != 0 || len(rep.ErrorsBy) != 0 {
		t.Errorf("got %d requests, %d errors %v; want 150 or more and no error\nstderr:\n%s", *rep.Requests, *rep.Errors, rep.ErrorsBy, stderr.String())
	}
	for _, step := range []string{"browse", "product", "search", "order"} {
		if rep.Steps[step].Requests == 0 {
			t.Errorf("no %s step ran: %+v", step, rep.Steps)
		}
	}
	if rep.Orders.Accepted == 0 || rep.Orders.Accepted != rep.Orders.Confirmed+rep.Orders.Pending || rep.Orders.Accepted != rep.Steps["order"].Requests {
		t.Errorf("orders %+v for %d order requests: want every order accepted", *rep.Orders, rep.Steps["order"].Requests)
	}

	f, err := os.Open(orders)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := 0
	for sc := bufio.NewScanner(f); sc.Scan(); lines++ {
		var l struct{ ID, Status, IdempotencyKey string }
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.ID == "" {
			t.Errorf("orders line %q: want an accepted order", sc.Text())
		}
	}
	if int64(lines) != rep.Orders.Accepted {
		t.Errorf("%d lines in the orders file, want %d", lines, rep.Orders.Accepted)
	}

	if vr, code := sys.verify("--wait", "60s", "--expect", orders); code != 0 || !vr.OK {
		t.Errorf("souk verify --expect after the run: exit %d: %+v", code, vr)
	}
}
