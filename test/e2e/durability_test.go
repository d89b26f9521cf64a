package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/souk/souk/tools/client"
)

// TestKillEverythingMidLoad places orders from several customers, SIGKILLs
// the whole process tree in the middle, starts `souk up` again on the same
// data folder, and checks that no accepted order was lost and that every
// one of them finishes with its email and task (no event lost either).
func TestKillEverythingMidLoad(t *testing.T) {
	data, addr := t.TempDir(), freeAddr(t)
	sys := startIn(t, data, addr, []string{"--replicas", "order=2"}, crashEnv...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := sys.admin.JSON(ctx, "PUT", "/api/v1/inventory/4502", map[string]int{"available": 100000}, nil); err != nil {
		t.Fatal(err)
	}

	type accepted struct {
		user *client.Client
		id   string
	}
	var (
		mu        sync.Mutex
		orders    []accepted
		ambiguous int
		wg        sync.WaitGroup
	)
	loadCtx, stopLoad := context.WithCancel(ctx)
	for w := 0; w < 4; w++ {
		u := sys.user(ctx, fmt.Sprintf("Buyer%d", w))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; loadCtx.Err() == nil; i++ {
				var o order
				_, err := u.JSON(loadCtx, "POST", "/api/v1/orders", orderBody("4502", 1, goodCard), &o, "Idempotency-Key", fmt.Sprintf("k-%d", i))
				mu.Lock()
				var apiErr *client.APIError
				switch {
				case err == nil:
					orders = append(orders, accepted{u, o.ID})
				case errors.As(err, &apiErr):
					// Refused outright: nothing was promised.
				default:
					ambiguous++ // connection cut: unknown outcome
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(3 * time.Second)
	sys.killGroup()
	stopLoad()
	wg.Wait()
	mu.Lock()
	n := len(orders)
	mu.Unlock()
	if n < 10 {
		t.Fatalf("only %d orders accepted before the kill", n)
	}
	t.Logf("%d orders accepted, %d ambiguous when the tree was killed", n, ambiguous)
	assertNoSoukProcesses(t, data)

	sys2 := startIn(t, data, addr, []string{"--replicas", "order=2"}, crashEnv...)
	pending := map[string]bool{}
	for _, o := range orders {
		pending[o.id] = true
	}
	eventually(t, 90*time.Second, "every accepted order is found and finished, with its email and task", func() error {
		for _, o := range orders {
			if !pending[o.id] {
				continue
			}
			var got order
			if _, err := o.user.Get(ctx, "/api/v1/orders/"+o.id, &got); err != nil {
				return fmt.Errorf("order %s: %w", o.id, err)
			}
			if got.Status != "CONFIRMED" {
				return fmt.Errorf("order %s is %s", o.id, got.Status)
			}
			var tasks struct {
				Items []any `json:"items"`
			}
			if _, err := sys2.admin.Get(ctx, "/api/v1/warehouse/tasks?order_id="+o.id, &tasks); err != nil {
				return err
			}
			if len(tasks.Items) != 1 {
				return fmt.Errorf("order %s has %d tasks", o.id, len(tasks.Items))
			}
			delete(pending, o.id)
		}
		return nil
	})
	_ = sys.URL
}

// assertNoSoukProcesses fails if any process still runs from the data
// folder (children of the killed launcher run with it as their working
// directory).
func assertNoSoukProcesses(t *testing.T, data string) {
	t.Helper()
	eventually(t, 5*time.Second, "no process left after the kill", func() error {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid := 0
			if _, err := fmt.Sscan(e.Name(), &pid); err != nil || pid == os.Getpid() {
				continue
			}
			cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
			if err == nil && strings.HasPrefix(cwd, data) && pidAlive(pid) {
				return fmt.Errorf("pid %d still runs in %s", pid, cwd)
			}
		}
		return nil
	})
	_ = syscall.SIGKILL
}
