package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// loadTimeout bounds a background reload of the cache after a watcher ended.
const loadTimeout = 10 * time.Second

// Watch fills the cache with the instances in the bucket and returns once
// they are in, then keeps the cache current in a goroutine until ctx ends.
// Calling Watch again stops the running watch first, so a caller can restart
// it. It returns ctx's error when ctx ends before the initial load, or the
// broker's error when the watcher cannot be started.
func (r *Registry) Watch(ctx context.Context) error {
	r.watchMu.Lock()
	defer r.watchMu.Unlock()
	if r.stopWatch != nil {
		r.stopWatch()
		<-r.watchDone
		r.stopWatch, r.watchDone = nil, nil
	}
	w, err := r.load(ctx)
	if err != nil {
		return fmt.Errorf("watch registry %s: %w", r.opts.Bucket, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	r.stopWatch, r.watchDone = cancel, done
	go func() {
		defer close(done)
		r.follow(wctx, w)
	}()
	return nil
}

// load starts a watcher, reads its initial values and replaces the cache
// with them.
func (r *Registry) load(ctx context.Context) (jetstream.KeyWatcher, error) {
	w, err := r.kv.WatchAll(ctx)
	if err != nil {
		return nil, err
	}
	fresh := map[string]Instance{}
	for {
		select {
		case <-ctx.Done():
			_ = w.Stop()
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("watcher closed during the initial load")
			}
			if e == nil { // all initial values are in
				r.replace(fresh)
				return w, nil
			}
			k := e.Key()
			if e.Operation() != jetstream.KeyValuePut {
				delete(fresh, k)
				continue
			}
			if inst, ok := r.decode(e); ok {
				fresh[k] = inst
			}
		}
	}
}

// follow applies updates from w until ctx ends, prunes expired entries, and
// reloads the cache with a new watcher when w ends or the connection has
// reconnected (updates may have been missed in between).
func (r *Registry) follow(ctx context.Context, w jetstream.KeyWatcher) {
	defer func() {
		if w != nil {
			_ = w.Stop()
		}
	}()
	tick := time.NewTicker(r.opts.Lease / 4)
	defer tick.Stop()
	nc := r.js.Conn()
	reconnects := nc.Stats().Reconnects
	for {
		var updates <-chan jetstream.KeyValueEntry
		if w != nil {
			updates = w.Updates()
		}
		select {
		case <-ctx.Done():
			return
		case e, ok := <-updates:
			if !ok {
				r.log.Warn("registry watcher ended; reloading")
				w = nil
				continue
			}
			if e != nil {
				r.apply(e)
			}
		case <-tick.C:
			r.prune()
			if n := nc.Stats().Reconnects; n != reconnects && w != nil {
				r.log.Info("registry reloading after a reconnect")
				reconnects = n
				_ = w.Stop()
				w = nil
			}
			if w == nil {
				lctx, cancel := context.WithTimeout(ctx, loadTimeout)
				nw, err := r.load(lctx)
				cancel()
				if err != nil {
					if ctx.Err() == nil {
						r.log.Warn("registry reload failed; retrying", "err", err)
					}
					continue
				}
				w = nw
			}
		}
	}
}

// decode parses an entry's value and checks that it matches its key.
func (r *Registry) decode(e jetstream.KeyValueEntry) (Instance, bool) {
	var inst Instance
	if err := json.Unmarshal(e.Value(), &inst); err != nil {
		r.log.Warn("registry entry is not an instance", "key", e.Key(), "err", err)
		return Instance{}, false
	}
	if inst.Service+"."+inst.ID != e.Key() {
		r.log.Warn("registry entry does not match its key", "key", e.Key(), "service", inst.Service, "id", inst.ID)
		return Instance{}, false
	}
	return inst, true
}

func (r *Registry) expired(inst Instance, now time.Time) bool {
	return now.Sub(inst.Heartbeat) > r.opts.Lease
}

// apply updates the cache with one change from the watcher.
func (r *Registry) apply(e jetstream.KeyValueEntry) {
	k := e.Key()
	r.mu.Lock()
	defer r.mu.Unlock()
	old, had := r.entries[k]
	if e.Operation() != jetstream.KeyValuePut {
		if had {
			delete(r.entries, k)
			r.publish()
		}
		return
	}
	inst, ok := r.decode(e)
	if !ok || r.expired(inst, r.opts.Now()) {
		if had {
			delete(r.entries, k)
			r.publish()
		}
		return
	}
	r.entries[k] = inst
	if !had || !sameButHeartbeat(old, inst) {
		r.publish()
	}
}

// replace makes fresh, less its expired entries, the cache.
func (r *Registry) replace(fresh map[string]Instance) {
	now := r.opts.Now()
	for k, inst := range fresh {
		if r.expired(inst, now) {
			delete(fresh, k)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := len(fresh) != len(r.entries)
	for k, inst := range fresh {
		if old, ok := r.entries[k]; !ok || !sameButHeartbeat(old, inst) {
			changed = true
			break
		}
	}
	r.entries = fresh
	if changed {
		r.publish()
	}
}

// prune drops the entries whose last heartbeat is older than the lease.
func (r *Registry) prune() {
	now := r.opts.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for k, inst := range r.entries {
		if r.expired(inst, now) {
			delete(r.entries, k)
			n++
			r.log.Info("registry instance expired", "service", inst.Service, "id", inst.ID, "heartbeat", inst.Heartbeat)
		}
	}
	if n > 0 {
		r.publish()
	}
}

// publish stores a new snapshot of the entries and wakes the waiters on the
// previous one. The caller holds r.mu.
func (r *Registry) publish() {
	old := r.snap.Load()
	r.snap.Store(&snapshot{byService: group(r.entries), gen: old.gen + 1, changed: make(chan struct{})})
	close(old.changed)
}
