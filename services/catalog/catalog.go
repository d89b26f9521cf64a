// Package catalog is the catalog service: it owns the products and their
// prices. Product pages and lists read it through the gateway, and the order
// service prices orders with one internal call per order.
//
// Every change of a product (create, update) commits together with its
// PRODUCT_CREATED or PRODUCT_UPDATED event in the outbox, so read models
// such as search see exactly the changes that happened. Each product has a
// version that grows by one per change and travels in the events.
//
// On its first start (an empty products table) the service seeds the sample
// catalog of package sampledata in one transaction, with an event per
// product. Seeding is safe when several replicas start at once: rows are
// inserted with ON CONFLICT DO NOTHING and only the replica whose insert
// took effect emits the event.
//
// Reads are single queries on the primary key and there is no cache: on
// two cores BenchmarkGetProduct serves a product page through the handler
// in about 20 µs on SQLite and 65 µs on PostgreSQL (tens of thousands of
// reads a second), far beyond the thousands a second the pages need and
// cheap next to the HTTP hop in front of it.
//
// Settings (read by Run only): SOUK_CATALOG_SEED, "true" (default) to seed
// the sample catalog into an empty database, "false" to start empty.
package catalog

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
)

// Limits on products and on requests.
const (
	MaxIDLen          = 64
	MaxNameLen        = 200  // characters
	MaxDescriptionLen = 5000 // characters
	MaxPriceCents     = 10_000_000_000
	DefaultPageSize   = 20
	MaxPageSize       = 100
	MaxLookupIDs      = 100
)

// Product is a product the shop sells.
type Product struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	PriceCents  int64     `json:"price_cents"`
	Currency    string    `json:"currency"`
	Version     int64     `json:"version"`
	CreatedAt   time.Time `json:"-"`
	UpdatedAt   time.Time `json:"-"`
}

// Page is one page of the product list. NextCursor is empty on the last
// page.
type Page struct {
	Items      []Product `json:"items"`
	NextCursor string    `json:"next_cursor"`
}

// CreateRequest is the body of POST /api/v1/products. ID is optional: the
// service picks a UUIDv7 when it is empty.
type CreateRequest struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	PriceCents  int64  `json:"price_cents"`
	Currency    string `json:"currency"`
}

// Validate reports every invalid field.
func (r CreateRequest) Validate() error {
	var v httpapi.Validator
	v.Check(r.ID == "" || ValidID(r.ID), "id", "must be 1 to 64 letters, digits, '-' or '_'")
	validateFields(&v, r.Name, r.Description, r.PriceCents, r.Currency)
	return v.Err()
}

// UpdateRequest is the body of PUT /api/v1/products/{id}: the product's new
// content, all of it (an omitted description clears it).
type UpdateRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	PriceCents  int64  `json:"price_cents"`
	Currency    string `json:"currency"`
}

// Validate reports every invalid field.
func (r UpdateRequest) Validate() error {
	var v httpapi.Validator
	validateFields(&v, r.Name, r.Description, r.PriceCents, r.Currency)
	return v.Err()
}

func validateFields(v *httpapi.Validator, name, description string, priceCents int64, currency string) {
	v.Check(validText(name, MaxNameLen, false) && strings.TrimSpace(name) != "", "name",
		fmt.Sprintf("must be 1 to %d characters, not blank, without control characters", MaxNameLen))
	v.Check(validText(description, MaxDescriptionLen, true), "description",
		fmt.Sprintf("must be at most %d characters, without control characters but line breaks and tabs", MaxDescriptionLen))
	v.Check(priceCents >= 1 && priceCents <= MaxPriceCents, "price_cents",
		"must be 1 to 10000000000 (cents)")
	v.Check(ValidCurrency(currency), "currency", "must be a three-letter ISO code in capitals")
}

// validText reports whether s is valid UTF-8 of at most max characters with
// no control characters; multiline also allows line breaks and tabs.
func validText(s string, max int, multiline bool) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// ValidID reports whether id may name a new product: 1 to 64 ASCII letters,
// digits, '-' or '_', so that it is safe in paths, in comma-separated id
// lists and in cursors.
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ValidCurrency reports whether c is three capital ASCII letters.
func ValidCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

// checkLookupID rejects an id no product can have because of its length;
// any other unknown id is simply not found.
func checkLookupID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fault.Invalidf("a product id is 1 to %d characters", MaxIDLen)
	}
	return nil
}

// A cursor is the last id of a page in base64url, opaque to clients so the
// pagination key may change without breaking them.

func encodeCursor(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(lastID))
}

func decodeCursor(cursor string) (lastID string, err error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !ValidID(string(b)) {
		return "", fault.Fields(fault.FieldError{Field: "cursor", Message: "is not a cursor this service returned"})
	}
	return string(b), nil
}

func errNotFound(id string) error {
	return fault.NotFoundf("no product %q", id)
}

func errExists(id string) error {
	return fault.New(fault.Conflict, "product_exists", fmt.Sprintf("product %q already exists", id))
}
