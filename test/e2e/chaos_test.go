package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestChaos is the reliability issue's proof in small: several replicas, a
// steady stream of orders from `souk load`, `souk chaos` killing a random
// instance every 2 s for 30 s, then `souk verify` over everything, with the
// load's list of accepted orders: no invariant broken, no accepted order
// lost.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run takes a minute; CI runs it")
	}
	sys := start(t, []string{"--replicas", "order=2,inventory=2,payment=2,catalog=2"}, crashEnv...)
	orders := filepath.Join(t.TempDir(), "orders.jsonl")

	load := exec.Command(binary, "load", "--gateway", sys.URL, "--mix", "order=100", "--rate", "25", "--duration", "40s",
		"--users", "20", "--orders-out", orders, "--json")
	var loadOut, loadErr bytes.Buffer
	load.Stdout, load.Stderr = &loadOut, &loadErr
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second) // setup, then a few seconds of calm load
	chaos := exec.Command(binary, "chaos", "--gateway", sys.URL, "--duration", "30s", "--kill-every", "2s", "--json")
	chaosOut, err := chaos.Output()
	if err != nil {
		t.Fatalf("souk chaos: %v\n%s", err, chaosOut)
	}
	if err := load.Wait(); err != nil {
		t.Fatalf("souk load: %v\n%s", err, loadErr.String())
	}
	var kills struct {
		Kills     []any          `json:"kills"`
		ByService map[string]int `json:"by_service"`
	}
	if err := json.Unmarshal(chaosOut, &kills); err != nil {
		t.Fatalf("chaos output %q: %v", chaosOut, err)
	}
	if len(kills.Kills) < 10 {
		t.Errorf("only %d kills in 30 s", len(kills.Kills))
	}
	var report struct {
		Requests int            `json:"requests"`
		Errors   int            `json:"errors"`
		ErrorsBy map[string]int `json:"errors_by"`
		Orders   struct {
			Accepted  int `json:"accepted"`
			Confirmed int `json:"confirmed"`
			Ambiguous int `json:"ambiguous"`
		} `json:"orders"`
	}
	if err := json.Unmarshal(loadOut.Bytes(), &report); err != nil {
		t.Fatalf("load output %q: %v", loadOut.String(), err)
	}
	if report.Orders.Accepted < 500 {
		t.Errorf("only %d orders accepted in 40 s at 25/s", report.Orders.Accepted)
	}
	t.Logf("kills %v; orders accepted %d (confirmed %d), errors %d of %d %v, ambiguous %d",
		kills.ByService, report.Orders.Accepted, report.Orders.Confirmed, report.Errors, report.Requests, report.ErrorsBy, report.Orders.Ambiguous)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	verify := exec.CommandContext(ctx, binary, "verify", "--gateway", sys.URL, "--expect", orders, "--wait", "90s")
	out, err := verify.CombinedOutput()
	if err != nil {
		t.Fatalf("souk verify after chaos: %v\n%s", err, out)
	}
	t.Logf("souk verify:\n%s", out)
}
