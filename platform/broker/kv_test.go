package broker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/platform/broker"
	"github.com/souk/souk/platform/brokertest"
)

// EnsureKeyValue creates a bucket, binds one already as wanted without
// updating it, and updates one whose settings differ.
func TestEnsureKeyValue(t *testing.T) {
	for _, srv := range brokertest.Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			nc, js, err := broker.Connect(ctx, srv.URL, "kv-test", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			b := make([]byte, 5)
			_, _ = rand.Read(b)
			cfg := jetstream.KeyValueConfig{Bucket: "kvtest_" + hex.EncodeToString(b), Description: "test", TTL: time.Minute, Storage: jetstream.MemoryStorage}
			t.Cleanup(func() { _ = js.DeleteKeyValue(context.Background(), cfg.Bucket) })

			kv, err := broker.EnsureKeyValue(ctx, js, cfg)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
				t.Fatal(err)
			}
			updates, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.STREAM.UPDATED.KV_" + cfg.Bucket)
			if err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}

			kv, err = broker.EnsureKeyValue(ctx, js, cfg)
			if err != nil {
				t.Fatalf("bind: %v", err)
			}
			if e, err := kv.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
				t.Fatalf("Get through the bound bucket = %v", err)
			}
			if msg, err := updates.NextMsg(300 * time.Millisecond); err == nil {
				t.Errorf("EnsureKeyValue of an unchanged bucket updated it: %s", msg.Data)
			}

			cfg.TTL = 2 * time.Minute
			kv, err = broker.EnsureKeyValue(ctx, js, cfg)
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			if _, err := updates.NextMsg(5 * time.Second); err != nil {
				t.Errorf("EnsureKeyValue with another TTL: no update advisory (%v)", err)
			}
			st, err := kv.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.TTL() != 2*time.Minute {
				t.Errorf("TTL after the update = %v, want 2m", st.TTL())
			}
		})
	}
}
