// Package registrytest helps tests that start a service's Run and need the
// address it registered.
package registrytest

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/platform/registry"
)

// WaitForInstance waits until an instance of service is in the registry of
// js and returns its address. done delivers Run's early return, which
// fails the test; so does the end of ctx.
func WaitForInstance(ctx context.Context, t testing.TB, js jetstream.JetStream, service string, done <-chan error) string {
	t.Helper()
	reg, err := registry.New(ctx, js, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		// Take the channel before looking: a change between the look and
		// taking it would otherwise be missed, and the wait would last
		// until the next change, which may never come.
		changed := reg.Changed()
		if in := reg.Instances(service); len(in) > 0 {
			return in[0].Addr
		}
		select {
		case <-changed:
		case err := <-done:
			t.Fatalf("Run returned before registering: %v", err)
		case <-ctx.Done():
			t.Fatalf("no %s instance registered", service)
		}
	}
}
