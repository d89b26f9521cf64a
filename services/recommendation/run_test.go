package recommendation

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/souk/souk/platform/broker"
	"github.com/souk/souk/platform/brokertest"
	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/registry/registrytest"
)

const secret = "0123456789abcdef-test"

func TestRunRejectsBadConcurrency(t *testing.T) {
	for _, v := range []string{"0", "65", "many"} {
		env := map[string]string{"SOUK_NATS_URL": "nats://127.0.0.1:1", "SOUK_SERVICE_SECRET": secret, "SOUK_RECOMMENDATION_CONCURRENCY": v}
		err := Run(context.Background(), func(k string) string { return env[k] }, nil)
		if err == nil || !strings.Contains(err.Error(), "SOUK_RECOMMENDATION_CONCURRENCY") {
			t.Errorf("concurrency %q: err = %v, want one naming the setting", v, err)
		}
	}
}

// TestRun starts a whole instance on an embedded broker, feeds it placed
// orders (one of them twice) and reads the recommendations over HTTP.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := brokertest.Embedded(t)
	env := map[string]string{"SOUK_NATS_URL": url, "SOUK_SERVICE_SECRET": secret, "SOUK_DATA": t.TempDir(), "SOUK_LOG_LEVEL": "warn"}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(runCtx, func(k string) string { return env[k] }, t.Output()) }()

	nc, js, err := broker.Connect(ctx, url, "recommendation-run-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	bus := events.NewBus(nc, js, events.Options{})
	if err := bus.EnsureStream(ctx, "order"); err != nil {
		t.Fatal(err)
	}
	ab := placed(t, "o1", "A", "B")
	for _, ev := range []events.Event{ab, placed(t, "o2", "A", "C"), placed(t, "o3", "A", "C")} {
		if err := bus.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	// A copy republished after JetStream's duplicate window is a new
	// message with the same event id: the inbox must drop it.
	body, err := json.Marshal(ab)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: events.SubjectOf("order", EventOrderPlaced), Data: body}); err != nil {
		t.Fatal(err)
	}

	addr := registrytest.WaitForInstance(ctx, t, js, "recommendation", done)

	// Every message handled, the copy included, and none dead-lettered.
	for {
		cons, err := js.Consumer(ctx, events.StreamOf("order"), ConsumerOrders)
		if err == nil && cons.CachedInfo().AckFloor.Stream == 4 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the consumer did not ack the 4 messages (%v)", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if dead, err := bus.DeadLetters(ctx, 10); err != nil || len(dead) != 0 {
		t.Fatalf("dead letters = %+v, %v; want none", dead, err)
	}

	resp, err := http.Get("http://" + addr + "/api/v1/recommendations/A")
	if err != nil {
		t.Fatal(err)
	}
	var got json.RawMessage
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	want := `{"product_id":"A","items":[{"product_id":"C","score":0.6667,"reason":"bought_together"},{"product_id":"B","score":0.3333,"reason":"bought_together"}]}`
	if err != nil || string(got) != want {
		t.Errorf("recommendations of A = %s (%v), want %s", got, err, want)
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
}
