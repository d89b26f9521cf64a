package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/souk/souk/platform/fault"
)

// Argon2Params are the cost parameters of argon2id.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes
}

// DefaultArgon2 is OWASP's recommended argon2id configuration: 19 MiB,
// two passes, one lane.
var DefaultArgon2 = Argon2Params{Memory: 19456, Time: 2, Threads: 1}

// Bounds on parameters, so that a typo in the configuration (or a corrupt
// stored hash) cannot ask for gigabytes per login.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 64
	maxThreads   = 64
)

// String renders p as the parameter segment of a PHC string.
func (p Argon2Params) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
}

// ParseArgon2Params parses the PHC parameter segment "m=19456,t=2,p=1"
// (that order, as the reference implementation writes it).
func ParseArgon2Params(s string) (Argon2Params, error) {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return Argon2Params{}, fmt.Errorf("argon2 parameters %q: want m=<KiB>,t=<passes>,p=<lanes>", s)
	}
	var nums [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(fields[i], name+"=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return Argon2Params{}, fmt.Errorf("argon2 parameters %q: want m=<KiB>,t=<passes>,p=<lanes>", s)
		}
		nums[i] = n
	}
	p := Argon2Params{Memory: uint32(nums[0]), Time: uint32(nums[1])}
	if nums[2] < 1 || nums[2] > maxThreads {
		return Argon2Params{}, fmt.Errorf("argon2 parameters %q: p must be 1 to %d", s, maxThreads)
	}
	p.Threads = uint8(nums[2])
	if p.Time < 1 || p.Time > maxTime {
		return Argon2Params{}, fmt.Errorf("argon2 parameters %q: t must be 1 to %d", s, maxTime)
	}
	// argon2 needs at least 8 KiB per lane.
	if p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemoryKiB {
		return Argon2Params{}, fmt.Errorf("argon2 parameters %q: m must be 8×p to %d KiB", s, maxMemoryKiB)
	}
	return p, nil
}

// Lengths of what a hash stores; a parsed hash may have other lengths
// within the bounds below, as other tools write them.
const (
	saltLen = 16
	keyLen  = 32
)

var b64 = base64.RawStdEncoding.Strict() // PHC: standard alphabet, no padding

// passwordHash is a parsed PHC string.
type passwordHash struct {
	params Argon2Params
	salt   []byte
	key    []byte
}

// encode returns h as "$argon2id$v=19$m=...,t=...,p=...$<salt>$<key>".
func (h passwordHash) encode() string {
	return fmt.Sprintf("$argon2id$v=%d$%s$%s$%s", argon2.Version, h.params, b64.EncodeToString(h.salt), b64.EncodeToString(h.key))
}

var errMalformedHash = errors.New("malformed argon2id hash")

// parseHash parses a PHC string written by encode (or by any argon2id
// implementation using the same format).
func parseHash(s string) (passwordHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return passwordHash{}, errMalformedHash
	}
	params, err := ParseArgon2Params(parts[3])
	if err != nil {
		return passwordHash{}, fmt.Errorf("%w: %v", errMalformedHash, err)
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return passwordHash{}, fmt.Errorf("%w: bad salt", errMalformedHash)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return passwordHash{}, fmt.Errorf("%w: bad hash", errMalformedHash)
	}
	return passwordHash{params: params, salt: salt, key: key}, nil
}

// Hasher hashes and verifies passwords with argon2id, running at most a
// fixed number of hashes at once. It is safe for concurrent use.
type Hasher struct {
	params Argon2Params
	slots  chan struct{} // a counting semaphore: one token per running hash
}

// NewHasher returns a Hasher that makes new hashes with params and runs at
// most concurrency hashes at once.
func NewHasher(params Argon2Params, concurrency int) *Hasher {
	return &Hasher{params: params, slots: make(chan struct{}, max(concurrency, 1))}
}

// Hash returns the PHC string of password with a fresh random salt. It
// waits for a free slot; when ctx ends first it returns fault.Unavailable.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key, err := h.derive(ctx, password, salt, h.params, keyLen)
	if err != nil {
		return "", err
	}
	return passwordHash{params: h.params, salt: salt, key: key}.encode(), nil
}

// Verify reports whether password matches the PHC string encoded, in time
// independent of where they differ. rehash is true when encoded was made
// with other parameters than the Hasher's, so it should be replaced. A
// malformed encoded is an error, as is ctx ending while waiting for a slot
// (fault.Unavailable).
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	ph, err := parseHash(encoded)
	if err != nil {
		return false, false, err
	}
	key, err := h.derive(ctx, password, ph.salt, ph.params, uint32(len(ph.key)))
	if err != nil {
		return false, false, err
	}
	ok = subtle.ConstantTimeCompare(key, ph.key) == 1
	return ok, ph.params != h.params || len(ph.salt) != saltLen || len(ph.key) != keyLen, nil
}

// errBusy is returned when a caller gives up waiting for a hashing slot.
var errBusy = &fault.Error{Kind: fault.Unavailable, Code: "unavailable", Message: "too many sign-ins at once; try again shortly", RetryAfter: time.Second}

func (h *Hasher) derive(ctx context.Context, password string, salt []byte, p Argon2Params, n uint32) ([]byte, error) {
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, errBusy
	}
	defer func() { <-h.slots }()
	return argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, n), nil
}
