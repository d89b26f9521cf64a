package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/souk/souk/platform/faultinject"
)

// crashEnv makes recovery quick enough for a test: a dead process's orders
// are taken over after a 1 s lease, looked for every 300 ms.
var crashEnv = []string{"SOUK_ORDER_LEASE=1s", "SOUK_ORDER_RECOVERY_INTERVAL=300ms"}

// TestCrashAtEveryStep crashes a process (exit without cleanup, like
// SIGKILL) at each step of the checkout, once, and checks that after the
// launcher's restart and the saga's recovery the order is terminal and the
// money, stock, email and task agree with its outcome.
func TestCrashAtEveryStep(t *testing.T) {
	const confirmed, cancelled, either = "CONFIRMED", "CANCELLED", "either"
	cases := []struct {
		point string
		want  string
	}{
		{"order.after_ORDER_CREATED", cancelled},        // recorded, nothing asked yet
		{"order.after_reserve_call", cancelled},         // stock reserved, not recorded
		{"order.after_ORDER_STOCK_RESERVED", cancelled}, // recorded, charge not asked
		{"order.after_charge_call", confirmed},          // charged, not recorded
		{"order.after_commit_call", confirmed},          // stock committed, the charge still not recorded
		// The capture is recorded with ORDER_PLACED, in one write.
		{"order.after_ORDER_PAYMENT_CAPTURED", confirmed},
		{"order.after_ORDER_PLACED", confirmed},
		// The relay publishes only lifecycle events, so its first publish is
		// this order's ORDER_PLACED: killed between the commit and the
		// publish, the event still goes out after the restart...
		{"order.outbox.before_publish", confirmed},
		// ...and killed between the publish and the mark, it goes out again
		// and JetStream and the inboxes drop the copy (one email, one task).
		{"order.outbox.after_publish", confirmed},
		{"notification-order-placed.after_handle", confirmed},
		{"warehouse-order-placed.after_handle", confirmed},
		// The callee commits, then dies before answering: the caller cannot
		// know, so either outcome is right as long as everything agrees.
		{"payment.after POST /internal/charges", either},
		{"inventory.after POST /internal/reservations", either},
		{"inventory.after POST /internal/reservations/{order_id}/commit", either},
	}
	for _, tc := range cases {
		t.Run(tc.point, func(t *testing.T) {
			sys := start(t, nil, append(crashEnv, "SOUK_FAULT="+tc.point+"=exit")...)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			ada := sys.user(ctx, "Ada")
			_, _ = ada.Do(ctx, "POST", "/api/v1/orders", orderBody("4521", 2, goodCard), "Idempotency-Key", "crash-1")

			eventually(t, 10*time.Second, "the crash point is reached", func() error {
				_, err := os.Stat(faultinject.MarkerPath(filepath.Join(sys.Data, "faults"), tc.point))
				return err
			})
			var o order
			eventually(t, 60*time.Second, "the order ends", func() error {
				var page struct {
					Items []order `json:"items"`
				}
				if _, err := ada.Get(ctx, "/api/v1/orders", &page); err != nil {
					return err
				}
				if len(page.Items) != 1 {
					return fmt.Errorf("%d orders", len(page.Items))
				}
				o = page.Items[0]
				if o.Status != confirmed && o.Status != cancelled {
					return fmt.Errorf("status %s", o.Status)
				}
				return nil
			})
			if tc.want != either && o.Status != tc.want {
				t.Errorf("status = %s, want %s", o.Status, tc.want)
			}
			// The same key answers with the same order.
			var again order
			if _, err := ada.JSON(ctx, "POST", "/api/v1/orders", orderBody("4521", 2, goodCard), &again, "Idempotency-Key", "crash-1"); err == nil && again.ID != o.ID {
				t.Errorf("replay made order %s, want %s", again.ID, o.ID)
			}
			sys.checkOrder(ctx, t, ada, o)
		})
	}
}

// checkOrder checks that stock, email and task agree with o's outcome
// (product 4521, quantity 2, 12 in stock at start).
func (s *system) checkOrder(ctx context.Context, t *testing.T, u clientLike, o order) {
	t.Helper()
	wantStock, wantMails, wantTasks := int64(12), 0, 0
	if o.Status == "CONFIRMED" {
		wantStock, wantMails, wantTasks = 10, 1, 1
	}
	eventually(t, 20*time.Second, "stock, email and task agree with "+o.Status, func() error {
		var p product
		if _, err := s.admin.Get(ctx, "/api/v1/products/4521", &p); err != nil {
			return err
		}
		if p.Stock == nil || p.Stock.Available != wantStock {
			return fmt.Errorf("stock %+v, want %d", p.Stock, wantStock)
		}
		var mail struct {
			Items []struct {
				OrderID string `json:"order_id"`
				Kind    string `json:"kind"`
			} `json:"items"`
		}
		if _, err := u.Get(ctx, "/api/v1/notifications", &mail); err != nil {
			return err
		}
		mails := 0
		for _, m := range mail.Items {
			if m.OrderID == o.ID && m.Kind == "order_confirmation" {
				mails++
			}
		}
		if mails != wantMails {
			return fmt.Errorf("%d confirmation emails, want %d", mails, wantMails)
		}
		var tasks struct {
			Items []any `json:"items"`
		}
		if _, err := s.admin.Get(ctx, "/api/v1/warehouse/tasks?order_id="+o.ID, &tasks); err != nil {
			return err
		}
		if len(tasks.Items) != wantTasks {
			return fmt.Errorf("%d tasks, want %d", len(tasks.Items), wantTasks)
		}
		var charge struct {
			Items []struct {
				OrderID       string `json:"order_id"`
				CapturedCents int64  `json:"captured_cents"`
				RefundedCents int64  `json:"refunded_cents"`
				Captures      int    `json:"captures"`
			} `json:"items"`
		}
		if _, err := s.admin.Get(ctx, "/api/v1/admin/audit/charges?limit=5000", &charge); err != nil {
			return err
		}
		var net int64
		for _, c := range charge.Items {
			if c.OrderID == o.ID {
				net = c.CapturedCents - c.RefundedCents
			}
		}
		if want := map[bool]int64{true: o.TotalCents, false: 0}[o.Status == "CONFIRMED"]; net != want {
			return fmt.Errorf("net charge %d, want %d", net, want)
		}
		return nil
	})
}

// clientLike is what checkOrder needs of a logged-in client.
type clientLike interface {
	Get(ctx context.Context, path string, out any) ([]byte, error)
}
