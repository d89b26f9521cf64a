package auth

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
)

// decode runs body through the request decoding of the handlers.
func decode(body []byte, dst any) error {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return httpapi.Decode(httptest.NewRecorder(), r, dst)
}

// checkRejection fails unless err is what a client may be told about its
// own bad request: Invalid or TooLarge, never a 5xx.
func checkRejection(t *testing.T, err error) {
	t.Helper()
	if !fault.Is(err, fault.Invalid) && !fault.Is(err, fault.TooLarge) {
		t.Fatalf("error %v is of kind %v, want Invalid or TooLarge", err, fault.KindOf(err))
	}
}

// FuzzSignupDecode feeds arbitrary bodies to the sign-up decoding and
// validation: they must never panic, fail only as bad requests, and let
// through only what may be stored.
func FuzzSignupDecode(f *testing.F) {
	f.Add([]byte(`{"email":"ada@example.com","password":"correct horse","name":"Ada"}`))
	f.Add([]byte(`{"email":" ADA@Example.com ","password":"éééééééé","name":"  Ada Lovelace  "}`))
	f.Add([]byte(`{"email":"Ada <ada@example.com>","password":"x","name":"\u0000"}`))
	f.Add([]byte(`{"email":null,"password":[],"name":{}}`))
	f.Add([]byte(`{"email":"a@b.c"}{"x":1}`))
	f.Add([]byte(`{"email":"` + strings.Repeat("a", httpapi.MaxBody) + `"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req SignupRequest
		err := decode(body, &req)
		if err == nil {
			req = req.Normalize()
			err = req.Validate()
		}
		if err != nil {
			checkRejection(t, err)
			return
		}
		if req.Email != strings.ToLower(strings.TrimSpace(req.Email)) || len(req.Email) > maxEmail {
			t.Errorf("accepted email %q is not normalized or too long", req.Email)
		}
		if n := utf8.RuneCountInString(req.Password); n < 8 || n > 128 {
			t.Errorf("accepted a password of %d characters", n)
		}
		if n := utf8.RuneCountInString(req.Name); n < 1 || n > 100 || req.Name != strings.TrimSpace(req.Name) {
			t.Errorf("accepted name %q", req.Name)
		}
	})
}

// FuzzLoginDecode is FuzzSignupDecode for the login body.
func FuzzLoginDecode(f *testing.F) {
	f.Add([]byte(`{"email":"ada@example.com","password":"correct horse"}`))
	f.Add([]byte(`{"email":"","password":""}`))
	f.Add([]byte(`{"email":"ada@example.com","password":"correct horse","extra":true}`))
	f.Add([]byte(`[1,2,3]`))
	f.Add([]byte(`{"password":"` + strings.Repeat("p", httpapi.MaxBody) + `"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req LoginRequest
		err := decode(body, &req)
		if err == nil {
			req = req.Normalize()
			err = req.Validate()
		}
		if err != nil {
			checkRejection(t, err)
			return
		}
		if req.Email == "" || len(req.Email) > maxEmail {
			t.Errorf("accepted email %q", req.Email)
		}
		if n := utf8.RuneCountInString(req.Password); n < 1 || n > 128 {
			t.Errorf("accepted a password of %d characters", n)
		}
	})
}
