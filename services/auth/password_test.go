package auth

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/souk/souk/platform/fault"
)

// cheap are parameters that keep tests fast; production uses DefaultArgon2.
var cheap = Argon2Params{Memory: 64, Time: 1, Threads: 1}

// referenceHash is "password" hashed by the argon2 reference implementation
// with salt "somesalt", t=3, m=256, p=2 (an x/crypto test vector), in PHC
// form.
const referenceHash = "$argon2id$v=19$m=256,t=3,p=2$c29tZXNhbHQ$RmjTCsQYfmh47t6s8P2DxaCjDbLMFu8L"

func TestParseArgon2Params(t *testing.T) {
	tests := []struct {
		in   string
		want Argon2Params
		ok   bool
	}{
		{"m=19456,t=2,p=1", DefaultArgon2, true},
		{"m=65536,t=3,p=4", Argon2Params{Memory: 65536, Time: 3, Threads: 4}, true},
		{"m=8,t=1,p=1", Argon2Params{Memory: 8, Time: 1, Threads: 1}, true},
		{"", Argon2Params{}, false},
		{"t=2,m=19456,p=1", Argon2Params{}, false}, // fixed order
		{"m=19456,t=2", Argon2Params{}, false},
		{"m=19456,t=2,p=1,x=1", Argon2Params{}, false},
		{"m=19456,t=0,p=1", Argon2Params{}, false},
		{"m=19456,t=65,p=1", Argon2Params{}, false},
		{"m=19456,t=2,p=0", Argon2Params{}, false},
		{"m=19456,t=2,p=300", Argon2Params{}, false},
		{"m=15,t=1,p=2", Argon2Params{}, false}, // under 8 KiB per lane
		{"m=2000000,t=1,p=1", Argon2Params{}, false},
		{"m=-1,t=2,p=1", Argon2Params{}, false},
		{"m=+5,t=2,p=1", Argon2Params{}, false},
		{"m=19456,t=2,p=1 ", Argon2Params{}, false},
		{"m=99999999999,t=2,p=1", Argon2Params{}, false},
	}
	for _, tt := range tests {
		got, err := ParseArgon2Params(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseArgon2Params(%q) = %+v, %v; want %+v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok && got.String() != tt.in {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), tt.in)
		}
	}
}

func TestPHCRoundTrip(t *testing.T) {
	h := passwordHash{params: DefaultArgon2, salt: []byte("0123456789abcdef"), key: []byte("0123456789abcdef0123456789abcdef")}
	s := h.encode()
	if want := "$argon2id$v=19$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"; s != want {
		t.Fatalf("encode = %s, want %s", s, want)
	}
	got, err := parseHash(s)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(h, got, cmp.AllowUnexported(passwordHash{})); diff != "" {
		t.Errorf("parse(encode(h)) differs (-want +got):\n%s", diff)
	}
}

func TestParseHashRejectsMalformed(t *testing.T) {
	good := referenceHash
	if _, err := parseHash(good); err != nil {
		t.Fatalf("parse %s: %v", good, err)
	}
	for name, s := range map[string]string{
		"empty":             "",
		"argon2i":           strings.Replace(good, "argon2id", "argon2i", 1),
		"bcrypt":            "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"old version":       strings.Replace(good, "v=19", "v=16", 1),
		"no version":        "$argon2id$m=256,t=3,p=2$c29tZXNhbHQ$RmjTCsQYfmh47t6s8P2DxaCjDbLMFu8L",
		"no leading dollar": strings.TrimPrefix(good, "$"),
		"extra field":       good + "$x",
		"bad params":        strings.Replace(good, "m=256,t=3,p=2", "m=256,t=3", 1),
		"huge memory":       strings.Replace(good, "m=256", "m=9999999", 1),
		"salt not base64":   strings.Replace(good, "c29tZXNhbHQ", "c29t*XNhbHQ", 1),
		"salt padded":       strings.Replace(good, "c29tZXNhbHQ", "c29tZXNhbHQ=", 1),
		"salt too short":    strings.Replace(good, "c29tZXNhbHQ", "c29tZQ", 1),
		"hash too short":    strings.Replace(good, "RmjTCsQYfmh47t6s8P2DxaCjDbLMFu8L", "RmjTCsQY", 1),
		"hash not base64":   strings.Replace(good, "RmjTCsQYfmh47t6s8P2DxaCjDbLMFu8L", "RmjT!sQYfmh47t6s8P2DxaCjDbLMFu8L", 1),
		"non-canonical b64": strings.Replace(good, "c29tZXNhbHQ", "c29tZXNhbHR", 1),
	} {
		if _, err := parseHash(s); err == nil {
			t.Errorf("%s: parseHash(%q) accepted a malformed hash", name, s)
		}
	}
}

// TestVerifyKnownAnswer checks that the parameters of a hash made elsewhere
// reach argon2 in the right places.
func TestVerifyKnownAnswer(t *testing.T) {
	key, _ := hex.DecodeString("4668d30ac4187e6878eedeacf0fd83c5a0a30db2cc16ef0b") // the vector's hex
	if want := (passwordHash{params: Argon2Params{Memory: 256, Time: 3, Threads: 2}, salt: []byte("somesalt"), key: key}).encode(); want != referenceHash {
		t.Fatalf("referenceHash = %s, want %s", referenceHash, want)
	}
	encoded := referenceHash
	h := NewHasher(cheap, 1)
	for _, tt := range []struct {
		password string
		want     bool
	}{{"password", true}, {"Password", false}, {"", false}} {
		ok, rehash, err := h.Verify(context.Background(), tt.password, encoded)
		if err != nil || ok != tt.want || !rehash {
			t.Errorf("Verify(%q) = %v, rehash %v, %v; want %v, rehash true", tt.password, ok, rehash, err, tt.want)
		}
	}
}

func TestHashAndVerify(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(cheap, 2)
	a, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := h.Hash(ctx, "correct horse")
	if a == b {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	if !strings.HasPrefix(a, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %s does not carry its parameters", a)
	}
	if ok, rehash, err := h.Verify(ctx, "correct horse", a); !ok || rehash || err != nil {
		t.Errorf("Verify(right) = %v, rehash %v, %v; want true, false", ok, rehash, err)
	}
	if ok, _, _ := h.Verify(ctx, "correct horsE", a); ok {
		t.Error("Verify(wrong) = true")
	}
	// Stronger parameters verify the old hash with its own and ask for a
	// rehash.
	stronger := NewHasher(Argon2Params{Memory: 128, Time: 2, Threads: 1}, 1)
	if ok, rehash, err := stronger.Verify(ctx, "correct horse", a); !ok || !rehash || err != nil {
		t.Errorf("Verify with other parameters = %v, rehash %v, %v; want true, true", ok, rehash, err)
	}
	if _, _, err := h.Verify(ctx, "x", "not a hash"); err == nil {
		t.Error("Verify accepted a malformed hash")
	}
}

func TestHasherBoundsConcurrency(t *testing.T) {
	h := NewHasher(cheap, 2)
	h.slots <- struct{}{}
	h.slots <- struct{}{} // every slot taken
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "password"); !fault.Is(err, fault.Unavailable) {
		t.Fatalf("Hash with no free slot = %v, want Unavailable once ctx ends", err)
	}
	<-h.slots
	if _, err := h.Hash(context.Background(), "password"); err != nil {
		t.Fatalf("Hash with a free slot: %v", err)
	}
	if n := len(h.slots); n != 1 {
		t.Errorf("slots held after Hash = %d, want 1 (only the one the test holds)", n)
	}
}
