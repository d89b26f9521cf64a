package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/souk/souk/tools/client"
)

// TestSeededStore seeds a stopped system with `souk seed`, starts it, and
// checks it as a user meets it: `souk verify` holds over the seeded orders,
// a seeded user logs in with the documented password and sees their orders,
// and a checkout on the grown store still confirms.
func TestSeededStore(t *testing.T) {
	data := t.TempDir()
	const users, orders = 50, 500
	out, err := exec.Command(binary, "seed", "--data", data, "--users", fmt.Sprint(users), "--orders", fmt.Sprint(orders), "--batch", "120").CombinedOutput()
	if err != nil {
		t.Fatalf("souk seed: %v\n%s", err, out)
	}
	if out, err := exec.Command(binary, "seed", "--data", data, "--users", "0").CombinedOutput(); exitCodeOf(err) != 2 {
		t.Errorf("souk seed --users 0: got exit %d, want 2 (usage)\n%s", exitCodeOf(err), out)
	}
	sys := startIn(t, data, freeAddr(t), nil)

	rep, code := sys.verify("--wait", "30s")
	if code != 0 || !rep.OK {
		t.Fatalf("souk verify on the seeded store: exit %d, %+v", code, rep)
	}
	if rep.Summary["orders"] != orders || rep.Summary["confirmed"] != orders || rep.Summary["tasks"] != orders {
		t.Errorf("verify summary: got %v, want %d confirmed orders with tasks", rep.Summary, orders)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, err := client.New(sys.URL).Login(ctx, "seed-7@example.com", "souk-seed-password-1")
	if err != nil {
		t.Fatalf("log in a seeded user: %v", err)
	}
	var page struct {
		Items []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"items"`
	}
	if _, err := u.Get(ctx, "/api/v1/orders", &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != orders/users {
		t.Fatalf("orders of seed-7: got %d, want %d", len(page.Items), orders/users)
	}
	var one struct {
		ID, Status string
	}
	if _, err := u.Get(ctx, "/api/v1/orders/"+page.Items[0].ID, &one); err != nil || one.Status != "CONFIRMED" {
		t.Errorf("GET a seeded order: got %+v, %v; want CONFIRMED", one, err)
	}

	// A new checkout by the seeded user, then the audit still holds.
	var placed struct{ ID, Status string }
	body := map[string]any{
		"items":   []map[string]any{{"product_id": "4501", "quantity": 1}},
		"payment": map[string]any{"card_number": "4242424242424242", "exp_month": 12, "exp_year": time.Now().Year() + 2, "cvc": "123"},
	}
	resp, err := u.JSON(ctx, http.MethodPost, "/api/v1/orders", body, &placed, "Idempotency-Key", "seeded-e2e-1")
	if err != nil || resp.Status != http.StatusCreated || placed.Status != "CONFIRMED" {
		t.Fatalf("checkout on the seeded store: got %+v, %v", placed, err)
	}
	if rep, code := sys.verify("--wait", "30s"); code != 0 || !rep.OK || rep.Summary["orders"] != orders+1 {
		t.Errorf("souk verify after a checkout: exit %d, summary %v", code, rep.Summary)
	}
}

func exitCodeOf(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
