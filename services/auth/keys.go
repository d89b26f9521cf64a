package auth

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/fault"
)

const (
	// keyRefresh is how often a replica re-reads the keys, so that a key
	// rotated on another replica signs here soon after its publish delay.
	keyRefresh = 5 * time.Second
	// unknownKidRefresh bounds the re-reads caused by tokens naming unknown
	// keys, which anyone can send.
	unknownKidRefresh = time.Second
	// retireLeeway is added to the token TTL before a replaced key leaves
	// the JWKS. It covers a replica that still signs with the old key until
	// its next refresh (keyRefresh), clock skew between replicas, and the
	// verifiers' own leeway on expiry.
	retireLeeway = time.Minute
)

// Key is a signing key with the time it starts signing.
type Key struct {
	authn.SigningKey
	// ActiveAt is when the key becomes the signer; until then it is only
	// published. It is the creation time plus the publish delay.
	ActiveAt time.Time
	// RetiresAt is when the key leaves the JWKS: its successor's ActiveAt
	// plus the token TTL and retireLeeway. Zero while it has no successor.
	RetiresAt time.Time
}

// Keyring holds the signing keys, loaded from the database shared by every
// replica. It is safe for concurrent use.
type Keyring struct {
	store        *Store
	now          func() time.Time
	tokenTTL     time.Duration
	publishDelay time.Duration
	log          *slog.Logger

	keys atomic.Pointer[[]Key] // not retired, by ActiveAt then ID

	reloadMu    sync.Mutex // serialises reloads
	lastAttempt time.Time  // of a reload, successful or not
}

// NewKeyring returns a keyring for tokens living tokenTTL, whose new keys
// start signing publishDelay after they are created. Call Load before use.
func NewKeyring(store *Store, now func() time.Time, tokenTTL, publishDelay time.Duration, log *slog.Logger) *Keyring {
	return &Keyring{store: store, now: now, tokenTTL: tokenTTL, publishDelay: publishDelay, log: log}
}

// Load creates the first key when the database has none, then loads the
// keys.
func (k *Keyring) Load(ctx context.Context) error {
	first, err := newKey(k.now(), 0)
	if err != nil {
		return err
	}
	// The first key signs at once: no token exists that a verifier could
	// need an older key for.
	if err := k.store.insertFirstKey(ctx, first); err != nil {
		return err
	}
	return k.reload(ctx)
}

// newKey generates a key created at now that starts signing after delay.
func newKey(now time.Time, delay time.Duration) (Key, error) {
	// Milliseconds, as the database keeps them.
	sk, err := authn.NewSigningKey(now.Truncate(time.Millisecond))
	if err != nil {
		return Key{}, err
	}
	return Key{SigningKey: sk, ActiveAt: sk.Created.Add(delay)}, nil
}

// Rotate creates a key that is published at once and signs after the
// publish delay; the keys it replaces retire once their tokens have
// expired.
func (k *Keyring) Rotate(ctx context.Context) (Key, error) {
	key, err := newKey(k.now(), k.publishDelay)
	if err != nil {
		return Key{}, err
	}
	if err := k.store.insertKey(ctx, key); err != nil {
		return Key{}, err
	}
	if err := k.reload(ctx); err != nil {
		return Key{}, err
	}
	return key, nil
}

// Run re-reads the keys every keyRefresh until ctx ends, so that rotations
// made on other replicas reach this one. Failures are logged; the keys
// already loaded stay in use.
func (k *Keyring) Run(ctx context.Context) error {
	t := time.NewTicker(keyRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := k.reload(ctx); err != nil && ctx.Err() == nil {
				k.log.WarnContext(ctx, "reload signing keys", "err", err)
			}
		}
	}
}

// reload reads the keys that are not retired, marks those whose time has
// come as retired (so later loads skip them), and swaps the snapshot.
func (k *Keyring) reload(ctx context.Context) error {
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	return k.reloadLocked(ctx)
}

func (k *Keyring) reloadLocked(ctx context.Context) error {
	now := k.now()
	k.lastAttempt = now
	stored, err := k.store.liveKeys(ctx)
	if err != nil {
		return err
	}
	keys := schedule(stored, k.tokenTTL)
	live := make([]Key, 0, len(keys))
	for _, key := range keys {
		if key.retired(now) {
			if err := k.store.retireKey(ctx, key.ID, key.RetiresAt); err != nil {
				return err
			}
			continue
		}
		live = append(live, key)
	}
	k.keys.Store(&live)
	return nil
}

// schedule sorts keys by the time they start signing and sets when each
// retires: a key signs until its successor starts, and its last token
// expires tokenTTL later.
func schedule(keys []Key, tokenTTL time.Duration) []Key {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b Key) int {
		return cmp.Or(a.ActiveAt.Compare(b.ActiveAt), strings.Compare(a.ID, b.ID))
	})
	for i := range len(keys) - 1 {
		keys[i].RetiresAt = keys[i+1].ActiveAt.Add(tokenTTL + retireLeeway)
	}
	return keys
}

func (key Key) retired(now time.Time) bool {
	return !key.RetiresAt.IsZero() && !now.Before(key.RetiresAt)
}

func (k *Keyring) snapshot() []Key {
	if p := k.keys.Load(); p != nil {
		return *p
	}
	return nil
}

// Signer returns the key that signs now: the newest one whose publish delay
// has passed. Errors: fault.Unavailable before Load.
func (k *Keyring) Signer() (authn.SigningKey, error) {
	keys := k.snapshot()
	if len(keys) == 0 {
		return authn.SigningKey{}, fault.Unavailablef("no signing key loaded")
	}
	now := k.now()
	signer := keys[0] // all pending only when clocks disagree: sign with the oldest
	for _, key := range keys {
		if key.ActiveAt.After(now) {
			break
		}
		signer = key
	}
	return signer.SigningKey, nil
}

// Published returns the keys for the JWKS: every key not yet retired,
// including those that do not sign yet.
func (k *Keyring) Published() []Key {
	now := k.now()
	var out []Key
	for _, key := range k.snapshot() {
		if !key.retired(now) {
			out = append(out, key)
		}
	}
	return out
}

// PublicKey returns the public half of the published key kid. An unknown
// kid may be a key just rotated on another replica: the keys are re-read,
// at most once per unknownKidRefresh. Its signature fits
// authn.Options.Keys.
func (k *Keyring) PublicKey(kid string) (ed25519.PublicKey, bool) {
	if pub, ok := k.published(kid); ok {
		return pub, true
	}
	k.reloadIfStale()
	return k.published(kid)
}

// reloadIfStale reloads the keys unless that was done less than
// unknownKidRefresh ago, so a flood of unknown kids costs one query a
// second. Verification has no context to pass down, hence a short timeout.
func (k *Keyring) reloadIfStale() {
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	if k.now().Sub(k.lastAttempt) < unknownKidRefresh {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := k.reloadLocked(ctx); err != nil {
		k.log.Warn("reload signing keys for an unknown kid", "err", err)
	}
}

func (k *Keyring) published(kid string) (ed25519.PublicKey, bool) {
	now := k.now()
	for _, key := range k.snapshot() {
		if key.ID == kid && !key.retired(now) {
			return key.Public(), true
		}
	}
	return nil, false
}

// signingKeys drops the schedule, for authn.PublicJWKS.
func signingKeys(keys []Key) []authn.SigningKey {
	out := make([]authn.SigningKey, len(keys))
	for i, key := range keys {
		out[i] = key.SigningKey
	}
	return out
}

// KeyInfo describes a key without its private half.
type KeyInfo struct {
	ID        string    `json:"kid"`
	CreatedAt time.Time `json:"created_at"`
	ActiveAt  time.Time `json:"active_at"`
}

func (key Key) info() KeyInfo {
	return KeyInfo{ID: key.ID, CreatedAt: key.Created, ActiveAt: key.ActiveAt}
}
