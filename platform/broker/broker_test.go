package broker

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestStartEmbeddedServesJetStream(t *testing.T) {
	e, err := StartEmbedded(EmbeddedOptions{Dir: t.TempDir(), SyncAlways: true})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	defer e.Shutdown()
	u, err := url.Parse(e.ClientURL())
	if err != nil {
		t.Fatalf("parse %q: %v", e.ClientURL(), err)
	}
	port, _ := strconv.Atoi(u.Port())
	if u.Hostname() != "127.0.0.1" || port == 0 || reservedPorts[port] {
		t.Errorf("ClientURL() = %q, want 127.0.0.1 on a random unreserved port", e.ClientURL())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, js, err := Connect(ctx, e.ClientURL(), "test", nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer nc.Close()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	ack, err := js.Publish(ctx, "s.x", []byte("hello"))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if got, want := ack.Sequence, uint64(1); got != want {
		t.Errorf("ack sequence = %d, want %d", got, want)
	}
}

func TestStartEmbeddedRejects(t *testing.T) {
	tests := []struct {
		name string
		opts EmbeddedOptions
	}{
		{"no dir", EmbeddedOptions{}},
		{"nats port", EmbeddedOptions{Dir: t.TempDir(), Port: 4222}},
		{"postgres port", EmbeddedOptions{Dir: t.TempDir(), Port: 5432}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := StartEmbedded(tt.opts)
			if err == nil {
				e.Shutdown()
				t.Fatalf("StartEmbedded(%+v) = nil error, want an error", tt.opts)
			}
		})
	}
}

func TestConnectFailsWithinContext(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	nc, _, err := Connect(ctx, "nats://"+addr, "test", nil)
	if err == nil {
		nc.Close()
		t.Fatal("Connect to a closed port succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Connect error = %v, want it to wrap context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Connect took %s, want it bounded by ctx", d)
	}
}

// TestConnectSurvivesRestart restarts the server on the same port and store
// directory: the client reconnects by itself and the stream is still there.
func TestConnectSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e, err := StartEmbedded(EmbeddedOptions{Dir: dir})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	u, _ := url.Parse(e.ClientURL())
	port, _ := strconv.Atoi(u.Port())

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, js, err := Connect(ctx, e.ClientURL(), "test", nil)
	if err != nil {
		e.Shutdown()
		t.Fatalf("Connect: %v", err)
	}
	defer nc.Close()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		e.Shutdown()
		t.Fatalf("create stream: %v", err)
	}
	if _, err := js.Publish(ctx, "s.x", []byte("1")); err != nil {
		e.Shutdown()
		t.Fatalf("publish: %v", err)
	}
	e.Shutdown()

	e2, err := StartEmbedded(EmbeddedOptions{Dir: dir, Port: port})
	if err != nil {
		t.Fatalf("restart on port %d: %v", port, err)
	}
	defer e2.Shutdown()
	var ack *jetstream.PubAck
	for ctx.Err() == nil {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		ack, err = js.Publish(pctx, "s.x", []byte("2"))
		pcancel()
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("publish after restart: %v", err)
	}
	if got, want := ack.Sequence, uint64(2); got != want {
		t.Errorf("sequence after restart = %d, want %d (stream kept on disk)", got, want)
	}
	if got := nc.Stats().Reconnects; got < 1 {
		t.Errorf("reconnects = %d, want at least 1", got)
	}
}
