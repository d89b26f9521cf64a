package load

import (
	"io"
	"math"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestJSONString(t *testing.T) {
	tests := []struct {
		body, key string
		last      bool
		want      string
		ok        bool
	}{
		{`{"type":"x","code":"out_of_stock","status":409}`, `"code"`, false, "out_of_stock", true},
		{`{"code" : "rate_limited"}`, `"code"`, false, "rate_limited", true},
		{`{"items":[{"name":"a \"next_cursor\": \"x\""}],"next_cursor":"abc"}`, `"next_cursor"`, true, "abc", true},
		{`{"items":[],"next_cursor":""}`, `"next_cursor"`, true, "", false},
		{`{"items":[],"next_cursor":null}`, `"next_cursor"`, true, "", false},
		{`{"items":[]}`, `"next_cursor"`, true, "", false},
		{`{"code":"a\"b"}`, `"code"`, false, "", false},
		{`{"code":12}`, `"code"`, false, "", false},
		{`not json`, `"code"`, false, "", false},
	}
	for _, tt := range tests {
		got := jsonString([]byte(tt.body), tt.key, tt.last)
		if string(got) != tt.want || (len(got) > 0) != tt.ok {
			t.Errorf("jsonString(%s, %s) = %q, want %q", tt.body, tt.key, got, tt.want)
		}
	}
}

func TestFakeAddresses(t *testing.T) {
	tests := []struct {
		k    int64
		want string
	}{{1, "10.0.0.1"}, {255, "10.0.0.255"}, {256, "10.0.1.0"}, {65536, "10.1.0.0"}}
	for _, tt := range tests {
		if got := userIP(tt.k); got != tt.want {
			t.Errorf("userIP(%d) = %s, want %s", tt.k, got, tt.want)
		}
	}
	anon := anonymousIPs(300)
	seen := map[string]bool{}
	for _, ip := range anon {
		if seen[ip] {
			t.Errorf("anonymous address %s twice", ip)
		}
		seen[ip] = true
	}
	if anon[0] != "10.255.0.1" || anon[299] != "10.255.1.44" {
		t.Errorf("anonymous addresses %s .. %s, want 10.255.0.1 .. 10.255.1.44", anon[0], anon[299])
	}
}

func TestNiceCeil(t *testing.T) {
	tests := []struct{ in, want float64 }{{0, 1}, {0.7, 0.8}, {1, 1}, {1.1, 1.2}, {3621, 4000}, {9.5, 10}, {101, 120}}
	for _, tt := range tests {
		if got := niceCeil(tt.in); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("niceCeil(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	hc := &fasthttp.HostClient{Addr: closed, MaxIdemponentCallAttempts: 1}
	req := fasthttp.AcquireRequest()
	req.SetRequestURI("http://" + closed + "/")
	err = hc.DoTimeout(req, nil, time.Second)
	tests := []struct {
		err  error
		want string
	}{
		{err, ErrRefused},
		{fasthttp.ErrTimeout, ErrTimeout},
		{fasthttp.ErrDialTimeout, ErrTimeout},
		{fasthttp.ErrNoFreeConns, ErrNoConn},
		{fasthttp.ErrConnectionClosed, ErrConnection},
		{io.ErrUnexpectedEOF, ErrConnection},
	}
	for _, tt := range tests {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("classify(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
