// Package brokertest gives tests the NATS servers a contract suite runs
// against: always an embedded server in a temporary directory, plus the
// external server named by SOUK_TEST_NATS when that variable is set.
//
// Tests that use the external server share it with other tests and other
// runs: they must use unique stream and bucket names and delete them when
// done.
//
// While a test uses the external server, Servers keeps a small placeholder
// stream on it. NATS 2.9 removes an account's store directory when its last
// file stream is deleted, and a stream created at that moment fails with
// "error creating store for stream" (10049); with the placeholder the count
// never drops to zero while tests run in parallel.
package brokertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/souk/souk/platform/broker"
)

// EnvExternal names the variable holding the URL of an external NATS server
// with JetStream, e.g. nats://127.0.0.1:4222.
const EnvExternal = "SOUK_TEST_NATS"

// Server is one NATS server a contract test runs against.
type Server struct {
	Name string // "embedded" or "external"
	URL  string
}

// Servers returns an embedded server, stopped when the test ends, and the
// external server when SOUK_TEST_NATS is set. It logs when the external
// server is left out, so a run without it is visible in -v output.
func Servers(t testing.TB) []Server {
	t.Helper()
	servers := []Server{{Name: "embedded", URL: Embedded(t)}}
	if url := os.Getenv(EnvExternal); url != "" {
		holdPlaceholder(t, url)
		servers = append(servers, Server{Name: "external", URL: url})
	} else {
		t.Logf("%s not set: running against the embedded NATS server only", EnvExternal)
	}
	return servers
}

// Embedded starts an embedded NATS server with JetStream in t.TempDir and
// returns its URL. The server is shut down when the test ends.
func Embedded(t testing.TB) string {
	t.Helper()
	e, err := broker.StartEmbedded(broker.EmbeddedOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("start embedded nats: %v", err)
	}
	t.Cleanup(e.Shutdown)
	return e.ClientURL()
}

// holdPlaceholder creates a file stream on the server at url for the rest
// of the test.
func holdPlaceholder(t testing.TB, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, js, err := broker.Connect(ctx, url, "brokertest", nil)
	if err != nil {
		t.Fatalf("connect to %s=%s: %v", EnvExternal, url, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	name := "BROKERTEST_" + id
	cfg := jetstream.StreamConfig{Name: name, Subjects: []string{"brokertest." + id}, Storage: jetstream.FileStorage, MaxMsgs: 1}
	for attempt := 0; ; attempt++ {
		if _, err = js.CreateStream(ctx, cfg); err == nil || attempt == 5 {
			break
		}
		time.Sleep(100 * time.Millisecond) // the very race this guards against
	}
	if err != nil {
		nc.Close()
		t.Fatalf("create placeholder stream on %s: %v", url, err)
	}
	t.Cleanup(func() {
		defer nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := js.DeleteStream(ctx, name); err != nil {
			t.Errorf("delete placeholder stream %s: %v", name, err)
		}
	})
}
