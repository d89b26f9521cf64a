package catalog

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
)

// FuzzCreateRequest feeds arbitrary bodies to the decoding and validation
// of POST /api/v1/products: they must never panic, must fail only with
// Invalid, and whatever passes must respect every documented bound. Seeds
// are in testdata/fuzz/FuzzCreateRequest.
func FuzzCreateRequest(f *testing.F) {
	f.Add([]byte(`{"id":"4521","name":"Chef's Knife","description":"Sharp","price_cents":4999,"currency":"USD"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req CreateRequest
		err := httpapi.Unmarshal(body, &req)
		if err == nil {
			err = req.Validate()
		}
		if err != nil {
			if !fault.Is(err, fault.Invalid) {
				t.Fatalf("error of kind %v, want Invalid: %v", fault.KindOf(err), err)
			}
			return
		}
		if req.ID != "" && !ValidID(req.ID) {
			t.Errorf("accepted id %q", req.ID)
		}
		if n := utf8.RuneCountInString(req.Name); n < 1 || n > MaxNameLen || strings.TrimSpace(req.Name) == "" {
			t.Errorf("accepted name of %d characters: %q", n, req.Name)
		}
		if !utf8.ValidString(req.Name) || !utf8.ValidString(req.Description) {
			t.Errorf("accepted invalid UTF-8")
		}
		if utf8.RuneCountInString(req.Description) > MaxDescriptionLen {
			t.Errorf("accepted a description of %d characters", utf8.RuneCountInString(req.Description))
		}
		if req.PriceCents < 1 || req.PriceCents > MaxPriceCents {
			t.Errorf("accepted price %d", req.PriceCents)
		}
		if !ValidCurrency(req.Currency) {
			t.Errorf("accepted currency %q", req.Currency)
		}
	})
}
