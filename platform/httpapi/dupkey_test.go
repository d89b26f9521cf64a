package httpapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// duplicateKeyTokens is the first duplicateKey, on json.Decoder.Token: the
// reference the byte scanner is checked against.
func duplicateKeyTokens(data []byte) (string, bool) {
	type frame struct {
		object  bool
		wantKey bool
		path    string
		seen    map[string]struct{}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*frame
	key := "" // the path of the value about to be read
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if s, ok := tok.(string); ok && top != nil && top.object && top.wantKey {
			fold := strings.ToUpper(strings.ToLower(s))
			path := s
			if top.path != "" {
				path = top.path + "." + s
			}
			if _, dup := top.seen[fold]; dup {
				return path, true
			}
			top.seen[fold] = struct{}{}
			top.wantKey = false
			key = path
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, wantKey: true, path: key, seen: map[string]struct{}{}})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{path: key})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return "", false
			}
			top = stack[len(stack)-1]
		}
		if top != nil && top.object {
			top.wantKey = true
			key = top.path
		} else if top != nil {
			key = top.path
		}
	}
}

var dupKeySeeds = []string{
	`{}`, `[]`, `"x"`, `1`, `null`, ` {"a":1} `,
	`{"a":1,"b":2}`, `{"a":1,"a":2}`, `{"a":1,"A":2}`,
	`{"a":{"b":1,"c":[1,2,{"b":1,"B":2}]}}`,
	`{"a":[{"x":1},{"x":1}],"b":{"x":1,"y":{"x":1,"x":2}}}`,
	`{"a\"b":1,"a\"B":2}`, `{"\u0061":1,"a":2}`, `{"K":1,"k":2}`, `{"ſ":1,"S":2}`,
	`{"é":1,"É":2}`, `{"a":"}","b":"]","c":"{\"a\":1,\"a\":2}"}`,
	`{"a":true,"b":false,"c":null,"d":-1.5e+10,"d":0}`,
	`[{"a":1},{"a":1,"a":1}]`, `[[[{"x":[{"y":1,"y":2}]}]]]`,
	`{"":1,"":2}`, `{"a":{},"b":[],"a":3}`,
	`{` + strings.Repeat(`"k`, 1) + `0":0` + func() string {
		var b strings.Builder
		for i := 1; i < 40; i++ {
			b.WriteString(`,"k` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":0`)
		}
		return b.String()
	}() + `,"KB":1}`,
}

func TestDuplicateKeyMatchesTokenScan(t *testing.T) {
	for _, s := range dupKeySeeds {
		if !json.Valid([]byte(s)) {
			t.Fatalf("seed %s is not valid JSON", s)
		}
		wantPath, wantDup := duplicateKeyTokens([]byte(s))
		path, dup := duplicateKey([]byte(s))
		if path != wantPath || dup != wantDup {
			t.Errorf("duplicateKey(%s) = %q, %v; the token scan says %q, %v", s, path, dup, wantPath, wantDup)
		}
	}
}

// FuzzDuplicateKey checks the byte scanner against the token scan on every
// valid JSON value (duplicateKey only ever sees valid JSON).
func FuzzDuplicateKey(f *testing.F) {
	for _, s := range dupKeySeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return // not an input duplicateKey is given
		}
		wantPath, wantDup := duplicateKeyTokens(data)
		path, dup := duplicateKey(data)
		if path != wantPath || dup != wantDup {
			t.Fatalf("duplicateKey(%q) = %q, %v; the token scan says %q, %v", data, path, dup, wantPath, wantDup)
		}
	})
}

// A checkout body, as the order service decodes it on every order.
var checkoutBody = []byte(`{"items":[{"product_id":"p-4521","quantity":2},{"product_id":"p-0077","quantity":1}],"payment":{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123","name":"Ada Lovelace"}}`)

func BenchmarkDuplicateKey(b *testing.B) {
	b.Run("bytes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			duplicateKey(checkoutBody)
		}
	})
	b.Run("tokens", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			duplicateKeyTokens(checkoutBody)
		}
	})
}
