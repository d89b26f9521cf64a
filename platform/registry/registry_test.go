package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/souk/souk/platform/broker"
	"github.com/souk/souk/platform/brokertest"
	"github.com/souk/souk/platform/fault"
)

// env is one test's view of a server: two connections, as two processes
// would have, and a bucket unique to the test.
type env struct {
	url    string
	bucket string
	js1    jetstream.JetStream
	js2    jetstream.JetStream
}

func newEnv(t *testing.T, url string) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e := &env{url: url, bucket: "t_reg_" + randHex(6)}
	for _, js := range []*jetstream.JetStream{&e.js1, &e.js2} {
		nc, j, err := broker.Connect(ctx, url, "registry-test", nil)
		if err != nil {
			t.Fatalf("connect %s: %v", url, err)
		}
		t.Cleanup(nc.Close)
		*js = j
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.js1.DeleteKeyValue(ctx, e.bucket); err != nil {
			t.Errorf("delete bucket %s: %v", e.bucket, err)
		}
	})
	return e
}

func (e *env) registry(t *testing.T, js jetstream.JetStream, lease time.Duration) *Registry {
	t.Helper()
	r, err := New(context.Background(), js, Options{Bucket: e.bucket, Lease: lease})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// watch starts r.Watch for the rest of the test.
func watch(t *testing.T, r *Registry) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := r.Watch(ctx); err != nil {
		t.Fatalf("Watch: %v", err)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func instance(service, id string) Instance {
	return Instance{ID: id, Service: service, Addr: "127.0.0.1:" + strconv.Itoa(10000+len(id)), PID: 42, Started: time.Now().UTC().Truncate(time.Millisecond), Meta: map[string]string{"v": "1"}}
}

func ids(list []Instance) []string {
	out := []string{}
	for _, inst := range list {
		out = append(out, inst.ID)
	}
	return out
}

// waitIDs waits until r lists want for service, and fails the test if it
// does not within timeout. It returns how long that took.
func waitIDs(t *testing.T, r *Registry, service string, want []string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := ids(r.Instances(service))
		if cmp.Equal(got, want) {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("Instances(%q) = %v after %s, want %v", service, got, timeout, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func register(t *testing.T, r *Registry, inst Instance) *Lease {
	t.Helper()
	l, err := r.Register(context.Background(), inst)
	if err != nil {
		t.Fatalf("Register(%s.%s): %v", inst.Service, inst.ID, err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

// TestContract runs the registry contract against every test server.
func TestContract(t *testing.T) {
	for _, srv := range brokertest.Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			for name, test := range contract {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					test(t, newEnv(t, srv.URL))
				})
			}
		})
	}
}

var contract = map[string]func(t *testing.T, e *env){
	"RegisterSeenByWatcher": func(t *testing.T, e *env) {
		holder, watcher := e.registry(t, e.js1, 3*time.Second), e.registry(t, e.js2, 3*time.Second)
		inst := instance("svc", "svc-1")
		register(t, holder, inst)
		watch(t, watcher) // initial load
		waitIDs(t, watcher, "svc", []string{"svc-1"}, 2*time.Second)
		got := watcher.Instances("svc")[0]
		got.Heartbeat = time.Time{}
		if diff := cmp.Diff(inst, got); diff != "" {
			t.Errorf("instance as seen by the watcher (-want +got):\n%s", diff)
		}
		changed, gen := watcher.Changed(), watcher.Generation()
		register(t, holder, instance("other", "other-1")) // live update
		waitIDs(t, watcher, "other", []string{"other-1"}, 2*time.Second)
		select {
		case <-changed:
		default:
			t.Error("Changed() channel not closed after a new instance")
		}
		if got := watcher.Generation(); got <= gen {
			t.Errorf("Generation() = %d after a change, want > %d", got, gen)
		}
		all := watcher.All()
		if got, want := len(all), 2; got != want {
			t.Errorf("len(All()) = %d, want %d", got, want)
		}
	},
	"CloseRemovesPromptly": func(t *testing.T, e *env) {
		holder, watcher := e.registry(t, e.js1, 6*time.Second), e.registry(t, e.js2, 6*time.Second)
		watch(t, watcher)
		l := register(t, holder, instance("svc", "svc-1"))
		waitIDs(t, watcher, "svc", []string{"svc-1"}, 2*time.Second)
		if err := l.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := l.Close(context.Background()); err != nil {
			t.Errorf("second Close: %v", err)
		}
		waitIDs(t, watcher, "svc", []string{}, time.Second) // far below the 6s lease
	},
	"DeregisterRemoves": func(t *testing.T, e *env) {
		holder, watcher := e.registry(t, e.js1, 6*time.Second), e.registry(t, e.js2, 6*time.Second)
		watch(t, watcher)
		l := register(t, holder, instance("svc", "svc-1"))
		l.stopHeartbeat() // the process died; the launcher noticed
		waitIDs(t, watcher, "svc", []string{"svc-1"}, 2*time.Second)
		if err := watcher.Deregister(context.Background(), "svc", "svc-1"); err != nil {
			t.Fatalf("Deregister: %v", err)
		}
		waitIDs(t, watcher, "svc", []string{}, time.Second)
	},
	"LeaseExpiresWithoutHeartbeat": func(t *testing.T, e *env) {
		const lease = time.Second
		holder, watcher := e.registry(t, e.js1, lease), e.registry(t, e.js2, lease)
		watch(t, watcher)
		alive := register(t, holder, instance("svc", "svc-alive"))
		killed := register(t, holder, instance("svc", "svc-killed"))
		waitIDs(t, watcher, "svc", []string{"svc-alive", "svc-killed"}, 2*time.Second)
		killed.stopHeartbeat()
		d := waitIDs(t, watcher, "svc", []string{"svc-alive"}, 4*lease)
		if d < lease/2 || d > 5*lease/2 {
			t.Errorf("killed instance left after %s, want about the lease %s", d, lease)
		}
		// The live one keeps its lease well past the lease duration.
		time.Sleep(2 * lease)
		if got, want := ids(watcher.Instances("svc")), []string{"svc-alive"}; !cmp.Equal(got, want) {
			t.Errorf("after 2 leases Instances = %v, want %v", got, want)
		}
		if hb := watcher.All()["svc"][0].Heartbeat; time.Since(hb) > lease {
			t.Errorf("heartbeat of the live instance is %s old, want under the lease", time.Since(hb))
		}
		_ = alive
	},
	"ExpiredEntryIgnoredOnLoad": func(t *testing.T, e *env) {
		// An entry left by a holder that died, still in the bucket: on 2.9 the
		// watcher gets no marker when it ages out, so the cache must drop it.
		reg := e.registry(t, e.js1, 3*time.Second)
		inst := instance("svc", "svc-dead")
		inst.Heartbeat = time.Now().Add(-time.Hour)
		b, _ := json.Marshal(inst)
		if _, err := reg.kv.Put(context.Background(), "svc.svc-dead", b); err != nil {
			t.Fatal(err)
		}
		register(t, reg, instance("svc", "svc-live"))
		watcher := e.registry(t, e.js2, 3*time.Second)
		watch(t, watcher)
		if got, want := ids(watcher.Instances("svc")), []string{"svc-live"}; !cmp.Equal(got, want) {
			t.Errorf("Instances after load = %v, want %v", got, want)
		}
	},
	"TwoInstancesSortedByID": func(t *testing.T, e *env) {
		holder, watcher := e.registry(t, e.js1, 3*time.Second), e.registry(t, e.js2, 3*time.Second)
		watch(t, watcher)
		register(t, holder, instance("svc", "svc-2"))
		l1 := register(t, holder, instance("svc", "svc-1"))
		waitIDs(t, watcher, "svc", []string{"svc-1", "svc-2"}, 2*time.Second)
		if err := l1.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitIDs(t, watcher, "svc", []string{"svc-2"}, time.Second)
	},
	"WatchRestarts": func(t *testing.T, e *env) {
		holder, watcher := e.registry(t, e.js1, 3*time.Second), e.registry(t, e.js2, 3*time.Second)
		gone := register(t, holder, instance("svc", "svc-1"))
		ctx1, cancel1 := context.WithCancel(context.Background())
		if err := watcher.Watch(ctx1); err != nil {
			t.Fatal(err)
		}
		waitIDs(t, watcher, "svc", []string{"svc-1"}, time.Second)
		cancel1()
		// Changes while nobody watches.
		if err := gone.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		register(t, holder, instance("svc", "svc-2"))
		time.Sleep(100 * time.Millisecond)
		watch(t, watcher) // restart after the first ctx ended
		if got, want := ids(watcher.Instances("svc")), []string{"svc-2"}; !cmp.Equal(got, want) {
			t.Errorf("Instances after restart = %v, want %v", got, want)
		}
		watch(t, watcher) // restart while running: replaces the running watch
		register(t, holder, instance("svc", "svc-3"))
		waitIDs(t, watcher, "svc", []string{"svc-2", "svc-3"}, 2*time.Second)
	},
	"CloseKeepsNewHolder": func(t *testing.T, e *env) {
		// An instance restarted under the same id must not be deleted by the
		// old holder's late Close.
		holder, watcher := e.registry(t, e.js1, 3*time.Second), e.registry(t, e.js2, 3*time.Second)
		watch(t, watcher)
		old := register(t, holder, instance("svc", "svc-1"))
		old.stopHeartbeat()
		fresh := instance("svc", "svc-1")
		fresh.PID, fresh.Addr = 43, "127.0.0.1:20001"
		register(t, holder, fresh)
		if err := old.Close(context.Background()); err != nil {
			t.Fatalf("old Close: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
		got := watcher.Instances("svc")
		if len(got) != 1 || got[0].PID != 43 {
			t.Errorf("Instances = %+v, want the new holder (pid 43)", got)
		}
	},
}

func TestInstancesDoesNotAllocate(t *testing.T) {
	e := newEnv(t, brokertest.Embedded(t))
	r := e.registry(t, e.js1, 3*time.Second)
	watch(t, r)
	for i := range 3 {
		register(t, r, instance("svc", fmt.Sprintf("svc-%d", i)))
	}
	waitIDs(t, r, "svc", []string{"svc-0", "svc-1", "svc-2"}, 2*time.Second)
	if n := testing.AllocsPerRun(1000, func() { _ = r.Instances("svc") }); n != 0 {
		t.Errorf("Instances allocates %v times per call, want 0", n)
	}
}

func BenchmarkInstances(b *testing.B) {
	r := &Registry{}
	r.snap.Store(&snapshot{byService: group(map[string]Instance{"svc.a": instance("svc", "a"), "svc.b": instance("svc", "b")})})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if len(r.Instances("svc")) != 2 {
				b.Fatal("want 2")
			}
		}
	})
}

func TestInvalidNames(t *testing.T) {
	e := newEnv(t, brokertest.Embedded(t))
	r := e.registry(t, e.js1, 3*time.Second)
	tests := []struct{ service, id string }{
		{"", "a"}, {"svc", ""}, {"s.v", "a"}, {"svc", "a.b"}, {"svc", "a b"}, {"svc", "a*"},
	}
	for _, tt := range tests {
		_, err := r.Register(context.Background(), Instance{Service: tt.service, ID: tt.id})
		if got, want := fault.KindOf(err), fault.Invalid; got != want {
			t.Errorf("Register(%q, %q) kind = %v (%v), want %v", tt.service, tt.id, got, err, want)
		}
		if got, want := fault.KindOf(r.Deregister(context.Background(), tt.service, tt.id)), fault.Invalid; got != want {
			t.Errorf("Deregister(%q, %q) kind = %v, want %v", tt.service, tt.id, got, want)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	e := newEnv(t, brokertest.Embedded(t))
	for _, opts := range []Options{
		{Bucket: e.bucket, Lease: time.Second, Heartbeat: time.Second},
		{Bucket: e.bucket, Lease: 10 * time.Millisecond},
		{Bucket: e.bucket, Lease: time.Second, Heartbeat: -time.Second},
	} {
		if _, err := New(context.Background(), e.js1, opts); !fault.Is(err, fault.Invalid) {
			t.Errorf("New(%+v) = %v, want an Invalid error", opts, err)
		}
	}
	// A valid New so the cleanup finds the bucket.
	e.registry(t, e.js1, time.Second)
}

// TestWatchSurvivesServerRestart restarts the embedded server under a live
// watcher and a live lease: both carry on once the client has reconnected.
func TestWatchSurvivesServerRestart(t *testing.T) {
	dir := t.TempDir()
	srv, err := broker.StartEmbedded(broker.EmbeddedOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown() }) // the restarted one; after the bucket is deleted
	u, _ := url.Parse(srv.ClientURL())
	port, _ := strconv.Atoi(u.Port())
	e := newEnv(t, srv.ClientURL())
	holder, watcher := e.registry(t, e.js1, 2*time.Second), e.registry(t, e.js2, 2*time.Second)
	watch(t, watcher)
	register(t, holder, instance("svc", "svc-1"))
	waitIDs(t, watcher, "svc", []string{"svc-1"}, 2*time.Second)

	srv.Shutdown()
	srv, err = broker.StartEmbedded(broker.EmbeddedOptions{Dir: dir, Port: port})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}

	var l *Lease
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err = holder.Register(context.Background(), instance("svc", "svc-2"))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Register after restart: %v", err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	waitIDs(t, watcher, "svc", []string{"svc-1", "svc-2"}, 5*time.Second)
	time.Sleep(3 * time.Second) // longer than the lease: svc-1's heartbeats resumed
	if got, want := ids(watcher.Instances("svc")), []string{"svc-1", "svc-2"}; !cmp.Equal(got, want) {
		t.Errorf("Instances after restart and a lease = %v, want %v", got, want)
	}
}
