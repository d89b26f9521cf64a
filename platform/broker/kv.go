package broker

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// EnsureKeyValue binds the bucket of cfg, creating it, or updating it when
// its settings differ from cfg. A bucket already as wanted is bound as it
// is: an update that changes nothing is still a write on the server (a
// raft proposal in a cluster), and nats-server 2.15 races in a stream
// update with a consumer (a watcher) being created on it, which processes
// starting together do.
func EnsureKeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if err == nil {
		st, serr := kv.Status(ctx)
		if serr == nil && sameBucket(st.Config(), cfg) {
			return kv, nil
		}
	} else if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, err
	}
	return js.CreateOrUpdateKeyValue(ctx, cfg)
}

// sameBucket reports whether a bucket configured as have has the settings
// want sets; the server fills in one replica when want leaves it zero.
func sameBucket(have, want jetstream.KeyValueConfig) bool {
	return have.Description == want.Description &&
		have.History == max(want.History, 1) &&
		have.TTL == want.TTL &&
		have.Storage == want.Storage &&
		have.Replicas == max(want.Replicas, 1)
}
