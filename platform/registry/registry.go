package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/souk/souk/platform/broker"
	"github.com/souk/souk/platform/fault"
)

// Options configures a Registry. Zero values take the defaults.
type Options struct {
	Bucket    string        // KV bucket; default "souk_registry"
	Lease     time.Duration // how long an instance lives without a heartbeat; default 6s; also the bucket TTL
	Heartbeat time.Duration // how often a lease is refreshed; default Lease/3; must be below Lease
	Replicas  int           // bucket replicas; default 1
	Now       func() time.Time
	Logger    *slog.Logger
}

// Default option values.
const (
	DefaultBucket = "souk_registry"
	DefaultLease  = 6 * time.Second
)

// Registry registers instances of this process and caches the instances of
// all services. Create it with New.
type Registry struct {
	js   jetstream.JetStream
	kv   jetstream.KeyValue
	opts Options
	log  *slog.Logger

	snap atomic.Pointer[snapshot]

	mu      sync.Mutex
	entries map[string]Instance // by key, with the latest heartbeat

	watchMu   sync.Mutex         // serializes Watch
	stopWatch context.CancelFunc // stops the running watch, if any
	watchDone chan struct{}      // closed when the running watch has stopped
}

// snapshot is an immutable view of the live instances. changed is closed
// when a newer snapshot replaces it.
type snapshot struct {
	byService map[string][]Instance
	gen       uint64
	changed   chan struct{}
}

// New binds the registry bucket, creating it or updating its TTL and
// replicas to opts. It returns an Invalid error for bad options and the
// broker's error when the bucket cannot be created.
func New(ctx context.Context, js jetstream.JetStream, opts Options) (*Registry, error) {
	if opts.Bucket == "" {
		opts.Bucket = DefaultBucket
	}
	if opts.Lease == 0 {
		opts.Lease = DefaultLease
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = opts.Lease / 3
	}
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Lease < 100*time.Millisecond {
		return nil, fault.Invalidf("registry lease %s is below 100ms", opts.Lease)
	}
	if opts.Heartbeat <= 0 || opts.Heartbeat >= opts.Lease {
		return nil, fault.Invalidf("registry heartbeat %s must be positive and below the lease %s", opts.Heartbeat, opts.Lease)
	}
	kv, err := broker.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      opts.Bucket,
		Description: "souk service registry: <service>.<id> -> instance lease",
		History:     1,
		TTL:         opts.Lease,
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("bind registry bucket %s: %w", opts.Bucket, err)
	}
	r := &Registry{
		js:      js,
		kv:      kv,
		opts:    opts,
		log:     opts.Logger.With("component", "registry"),
		entries: map[string]Instance{},
	}
	r.snap.Store(&snapshot{byService: map[string][]Instance{}, changed: make(chan struct{})})
	return r, nil
}

// Instances returns the live instances of service sorted by ID. The slice
// is shared with every other caller and must not be modified. It is nil
// when none is known. It never blocks or allocates.
func (r *Registry) Instances(service string) []Instance {
	return r.snap.Load().byService[service]
}

// All returns a copy of the cache, by service, each sorted by ID, with the
// latest heartbeats. It is meant for status pages, not for hot paths.
func (r *Registry) All() map[string][]Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	return group(r.entries)
}

// Generation returns a number that grows each time the set of instances
// (or an instance's fields other than Heartbeat) changes.
func (r *Registry) Generation() uint64 { return r.snap.Load().gen }

// Changed returns a channel that is closed at the next change of the set of
// instances. Take a new channel after each change:
//
//	for {
//		ch := reg.Changed()
//		rebuild(reg.Instances("order"))
//		select { case <-ch: case <-ctx.Done(): return }
//	}
func (r *Registry) Changed() <-chan struct{} { return r.snap.Load().changed }

// key returns the bucket key of an instance after checking that the parts
// are valid key tokens.
func key(service, id string) (string, error) {
	if !validToken(service) || !validToken(id) {
		return "", fault.Invalidf("registry: service %q and id %q must be non-empty and use only letters, digits, '-', '_' and '='", service, id)
	}
	return service + "." + id, nil
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '=') {
			return false
		}
	}
	return true
}

// Deregister deletes the lease of an instance at once. The launcher calls it
// when it sees an instance's process exit. It returns an Invalid error for
// a bad service or id and the broker's error when the delete fails.
func (r *Registry) Deregister(ctx context.Context, service, id string) error {
	k, err := key(service, id)
	if err != nil {
		return err
	}
	if err := r.kv.Delete(ctx, k); err != nil {
		return fmt.Errorf("deregister %s: %w", k, err)
	}
	return nil
}

// Lease is a registered instance whose key is refreshed until Close.
type Lease struct {
	r    *Registry
	key  string
	inst Instance

	mu  sync.Mutex
	rev uint64 // revision of our last successful put

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Register puts inst under "<inst.Service>.<inst.ID>" with Heartbeat set to
// now and refreshes it every heartbeat interval until the Lease is closed.
// It returns an Invalid error for a bad service or id and the broker's error
// when the first put fails; later failed puts are logged and retried.
func (r *Registry) Register(ctx context.Context, inst Instance) (*Lease, error) {
	k, err := key(inst.Service, inst.ID)
	if err != nil {
		return nil, err
	}
	if inst.Started.IsZero() {
		inst.Started = r.opts.Now().UTC()
	}
	l := &Lease{r: r, key: k, inst: inst, stop: make(chan struct{}), done: make(chan struct{})}
	if err := l.put(ctx); err != nil {
		return nil, fmt.Errorf("register %s: %w", k, err)
	}
	go l.heartbeat()
	return l, nil
}

// Instance returns the instance as registered (with its first heartbeat).
func (l *Lease) Instance() Instance { return l.inst }

func (l *Lease) put(ctx context.Context) error {
	inst := l.inst
	inst.Heartbeat = l.r.opts.Now().UTC()
	b, err := json.Marshal(inst)
	if err != nil {
		return err
	}
	rev, err := l.r.kv.Put(ctx, l.key, b)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.rev = rev
	l.mu.Unlock()
	return nil
}

func (l *Lease) heartbeat() {
	defer close(l.done)
	t := time.NewTicker(l.r.opts.Heartbeat)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.r.opts.Heartbeat)
		err := l.put(ctx)
		cancel()
		switch {
		case err != nil:
			l.r.log.Warn("registry heartbeat failed", "key", l.key, "err", err)
			failing = true
		case failing:
			l.r.log.Info("registry heartbeat recovered", "key", l.key)
			failing = false
		}
	}
}

// stopHeartbeat stops refreshing the lease without deleting the key, as if
// the holder had been killed.
func (l *Lease) stopHeartbeat() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
}

// Close stops the heartbeat and deletes the key, unless another holder has
// put it since (an instance restarted under the same id). It is safe to call
// more than once; later calls return the first result. It returns the
// broker's error when the delete fails; the key then ages out after the
// lease.
func (l *Lease) Close(ctx context.Context) error {
	l.closeOnce.Do(func() {
		l.stopHeartbeat()
		l.closeErr = l.delete(ctx)
	})
	return l.closeErr
}

func (l *Lease) delete(ctx context.Context) error {
	l.mu.Lock()
	rev := l.rev
	l.mu.Unlock()
	err := l.r.kv.Delete(ctx, l.key, jetstream.LastRevision(rev))
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("close lease %s: %w", l.key, err)
	}
	// Someone put the key after our last known put: a put of ours whose ack
	// was lost, or a new holder. Delete only if the value is still ours.
	e, err := l.r.kv.Get(ctx, l.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("close lease %s: %w", l.key, err)
	}
	var cur Instance
	if json.Unmarshal(e.Value(), &cur) != nil || !cur.Started.Equal(l.inst.Started) || cur.PID != l.inst.PID || cur.Addr != l.inst.Addr {
		return nil
	}
	if err := l.r.kv.Delete(ctx, l.key, jetstream.LastRevision(e.Revision())); err != nil {
		return fmt.Errorf("close lease %s: %w", l.key, err)
	}
	return nil
}

// group builds the by-service view of entries, each slice sorted by ID.
func group(entries map[string]Instance) map[string][]Instance {
	m := make(map[string][]Instance)
	for _, inst := range entries {
		m[inst.Service] = append(m[inst.Service], inst)
	}
	for _, list := range m {
		slices.SortFunc(list, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	}
	return m
}

// sameButHeartbeat reports whether a and b differ at most in Heartbeat.
func sameButHeartbeat(a, b Instance) bool {
	if a.ID != b.ID || a.Service != b.Service || a.Addr != b.Addr || a.PID != b.PID || !a.Started.Equal(b.Started) || len(a.Meta) != len(b.Meta) {
		return false
	}
	for k, v := range a.Meta {
		if bv, ok := b.Meta[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
