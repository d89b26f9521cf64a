package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// verifyReport is `souk verify --json`.
type verifyReport struct {
	OK     bool `json:"ok"`
	Checks []struct {
		Name       string   `json:"name"`
		OK         bool     `json:"ok"`
		Checked    int      `json:"checked"`
		Violations []string `json:"violations"`
		Detail     string   `json:"detail"`
	} `json:"checks"`
	Summary map[string]int `json:"summary"`
}

// verify runs `souk verify --json` with extra arguments and returns its
// report and exit status.
func (s *system) verify(args ...string) (verifyReport, int) {
	s.t.Helper()
	cmd := exec.Command(binary, append([]string{"verify", "--gateway", s.URL, "--json"}, args...)...)
	cmd.Env = append(os.Environ(), "SOUK_TOKEN="+s.admin.Token())
	var stderr syncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		s.t.Fatalf("souk verify: %v", err)
	}
	var rep verifyReport
	if jerr := json.Unmarshal(out, &rep); jerr != nil {
		s.t.Fatalf("souk verify (exit %d) printed %q: %v\nstderr: %s", code, out, jerr, stderr.String())
	}
	return rep, code
}

// TestVerify places a confirmed, a declined and a shipped order through
// the gateway and audits the system with `souk verify`: every invariant
// holds, with the right counts; an accepted order the system never saw is
// reported lost.
func TestVerify(t *testing.T) {
	sys := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	if rep, code := sys.verify("--wait", "30s"); code != 0 || !rep.OK || rep.Summary["orders"] != 0 {
		t.Fatalf("a fresh system: exit %d, report %+v", code, rep)
	}

	grace := sys.user(ctx, "Grace")
	var confirmed, shipped order
	for _, o := range []*order{&confirmed, &shipped} {
		if _, err := grace.JSON(ctx, "POST", "/api/v1/orders", orderBody("4521", 2, goodCard), o); err != nil || o.Status != "CONFIRMED" {
			t.Fatalf("order: %v %+v", err, o)
		}
	}
	declinedCard := map[string]any{"card_number": "4000000000000002", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
	if _, err := grace.JSON(ctx, "POST", "/api/v1/orders", orderBody("4521", 1, declinedCard), nil); !isProblem(err, 402, "payment_declined") {
		t.Fatalf("declined order: %v, want 402 payment_declined", err)
	}

	// Ship one order: its task ships and ORDER_SHIPPED makes it SHIPPED.
	var tasks struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	eventually(t, 10*time.Second, "warehouse task", func() error {
		if _, err := sys.admin.Get(ctx, "/api/v1/warehouse/tasks?order_id="+shipped.ID, &tasks); err != nil {
			return err
		}
		if len(tasks.Items) != 1 {
			return fmt.Errorf("tasks: %+v", tasks.Items)
		}
		return nil
	})
	if _, err := sys.admin.JSON(ctx, "POST", "/api/v1/warehouse/tasks/"+tasks.Items[0].ID+"/ship", nil, nil); err != nil {
		t.Fatalf("ship: %v", err)
	}
	eventually(t, 10*time.Second, "order shipped", func() error {
		var o order
		if _, err := grace.Get(ctx, "/api/v1/orders/"+shipped.ID, &o); err != nil {
			return err
		}
		if o.Status != "SHIPPED" {
			return fmt.Errorf("status %s", o.Status)
		}
		return nil
	})

	// Emails and tasks arrive asynchronously: verify waits for them.
	rep, code := sys.verify("--wait", "30s")
	if code != 0 || !rep.OK {
		t.Fatalf("exit %d, report %+v", code, rep)
	}
	wantSummary := map[string]int{"orders": 3, "confirmed": 1, "shipped": 1, "cancelled": 1, "pending": 0, "lost": 0, "duplicates": 0, "confirmation_emails": 2, "tasks": 2}
	for k, want := range wantSummary {
		if got := rep.Summary[k]; got != want {
			t.Errorf("summary %s = %d, want %d", k, got, want)
		}
	}
	checked := map[string]int{}
	for _, c := range rep.Checks {
		checked[c.Name] = c.Checked
	}
	// The declined order's stock release and its lack of money, email
	// and task are what cancelled_clean looked at.
	for name, want := range map[string]int{"terminal": 3, "confirmed_charged": 2, "confirmed_stock_committed": 2, "confirmed_email": 2, "confirmed_task": 2, "cancelled_clean": 1} {
		if checked[name] != want {
			t.Errorf("%s checked %d, want %d", name, checked[name], want)
		}
	}
	if checked["stock_conserved"] < 1 {
		t.Errorf("stock_conserved checked %d products", checked["stock_conserved"])
	}

	// Expectations: the two accepted orders exist; a third the load
	// generator "saw" does not, and is reported lost.
	dir := t.TempDir()
	good := filepath.Join(dir, "orders.jsonl")
	lines := fmt.Sprintf("{\"id\":%q,\"status\":\"CONFIRMED\",\"idempotency_key\":\"k1\"}\n{\"id\":%q,\"status\":\"CONFIRMED\",\"idempotency_key\":\"k2\"}\n{\"idempotency_key\":\"k3\",\"error\":\"timeout\"}\n", confirmed.ID, shipped.ID)
	if err := os.WriteFile(good, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	if rep, code := sys.verify("--expect", good); code != 0 || rep.Summary["accepted"] != 2 || rep.Summary["ambiguous"] != 1 {
		t.Errorf("with expectations: exit %d, report %+v", code, rep)
	}
	bad := filepath.Join(dir, "lost.jsonl")
	if err := os.WriteFile(bad, []byte(lines+"{\"id\":\"never-placed\",\"status\":\"CONFIRMED\",\"idempotency_key\":\"k4\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, code = sys.verify("--expect", bad, "--wait", "0")
	if code != 1 || rep.OK || rep.Summary["lost"] != 1 {
		t.Errorf("a lost order: exit %d, report %+v; want exit 1 and lost 1", code, rep)
	}
	for _, c := range rep.Checks {
		if c.Name == "expected_orders" && (c.OK || len(c.Violations) != 1 || c.Violations[0] != "never-placed") {
			t.Errorf("expected_orders = %+v", c)
		}
	}
}
