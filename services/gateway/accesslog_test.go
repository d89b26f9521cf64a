package gateway

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendJSONString(t *testing.T) {
	tests := []struct {
		in   string
		want string // decoded; "" means the input itself
	}{
		{"", ""},
		{"/api/v1/orders", ""},
		{`a"b\c`, ""},
		{"line\nforged\r\n{\"level\":\"ERROR\"}", ""},
		{"\x00\x01\x1f\x7f", ""},
		{"tab\there", ""},
		{"\u2028\u2029", ""},
		{"café ☕ 𝄞", ""},
		{"</script>&<>", ""},
		{"\xff\xfe", "\ufffd\ufffd"},
		{"a\xc3", "a\ufffd"},                   // a cut-off sequence
		{"\xed\xa0\x80", "\ufffd\ufffd\ufffd"}, // a surrogate half
		{"ok\xe2\x82", "ok\ufffd\ufffd"},
	}
	for _, tt := range tests {
		out := appendJSONString([]byte("x"), []byte(tt.in))
		if out[0] != 'x' {
			t.Fatalf("%q: the prefix was overwritten: %q", tt.in, out)
		}
		out = out[1:]
		if bytes.ContainsAny(out, "\r\n") || !utf8.Valid(out) {
			t.Errorf("%q → %q: spans lines or is not UTF-8", tt.in, out)
		}
		var got string
		dec := json.NewDecoder(bytes.NewReader(out))
		if err := dec.Decode(&got); err != nil || dec.More() {
			t.Errorf("%q → %q: not one JSON string: %v", tt.in, out, err)
			continue
		}
		want := tt.want
		if want == "" {
			want = tt.in
		}
		if got != want {
			t.Errorf("%q → %q decodes to %q, want %q", tt.in, out, got, want)
		}
		// And as encoding/json would decode its own encoding of the input.
		ref, _ := json.Marshal(tt.in)
		var refGot string
		_ = json.Unmarshal(ref, &refGot)
		if got != refGot {
			t.Errorf("%q decodes to %q, encoding/json's to %q", tt.in, got, refGot)
		}
	}
}

func TestAccessLogBuffersAndFlushes(t *testing.T) {
	var out syncBuffer
	l := newAccessLog(&out, "gateway", "gateway-1")
	l.log(time.Now(), []byte("GET"), "/x", []byte("/x"), 200, 1500*time.Microsecond, "u1", "rid", "svc-1", netip.MustParseAddr("192.0.2.1"))
	if out.String() != "" {
		t.Fatalf("a line was written before the flush: %q", out.String())
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { l.run(stop); close(done) }()
	waitUntil(t, "the periodic flush", 2*time.Second, func() bool { return out.String() != "" })
	var m map[string]any
	if err := json.Unmarshal([]byte(out.String()), &m); err != nil {
		t.Fatalf("line %q: %v", out.String(), err)
	}
	if m["ms"] != 1.5 || m["client_ip"] != "192.0.2.1" || m["user"] != "u1" || m["upstream"] != "svc-1" {
		t.Errorf("line = %v", m)
	}
	// A full buffer is written at once, and the last lines at stop.
	big := []byte(strings.Repeat("p", 70<<10))
	l.log(time.Now(), []byte("GET"), "/x", big, 200, 0, "", "rid2", "", netip.Addr{})
	if !strings.Contains(out.String(), "rid2") {
		t.Error("a buffer over 64 KiB was not written at once")
	}
	l.log(time.Now(), []byte("GET"), "/x", []byte("/last"), 200, 0, "", "rid3", "", netip.Addr{})
	close(stop)
	<-done
	if !strings.Contains(out.String(), "rid3") {
		t.Error("the last line was not written at stop")
	}
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("line %.80q is not JSON", line)
		}
	}
}
