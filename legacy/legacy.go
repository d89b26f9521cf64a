package legacy

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/souk/souk/platform/fault"
)

// Limits of requests, the same as the Souk services' they overlap with.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	MaxIDLen        = 64
	MaxQueryLen     = 200 // characters
	DefaultTop      = 10
)

// Product is a product in the list and the search results.
type Product struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	PriceCents  int64  `json:"price_cents"`
	Currency    string `json:"currency"`
}

// Page is one page of the product list; NextCursor is empty on the last.
type Page struct {
	Items      []Product `json:"items"`
	NextCursor string    `json:"next_cursor"`
}

// ProductPage is the product page: the monolith knows the stock itself and
// has no recommendations.
type ProductPage struct {
	Product
	Stock           Stock `json:"stock"`
	Recommendations []any `json:"recommendations"`
}

// Stock is a product's stock on its page.
type Stock struct {
	Available int64 `json:"available"`
}

// Hit is a search result: 2 when the name matches, 1 when only the
// description does.
type Hit struct {
	Product
	Score float64 `json:"score"`
}

// Report is the sales report, best sellers by revenue first.
type Report struct {
	Report     string      `json:"report"`
	Rows       []ReportRow `json:"rows"`
	TotalUnits int64       `json:"total_units"`
	TotalCents int64       `json:"total_cents"`
}

// ReportRow is one product's sales.
type ReportRow struct {
	ProductID    string `json:"product_id"`
	Name         string `json:"name"`
	Units        int64  `json:"units"`
	RevenueCents int64  `json:"revenue_cents"`
	Currency     string `json:"currency"`
}

// The cursor is the last id of a page in base64url, exactly as the catalog
// service writes it, so a cursor from one system works on the other.

func encodeCursor(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(lastID))
}

func decodeCursor(cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) == 0 || len(b) > MaxIDLen || !utf8.Valid(b) {
		return "", fault.Fields(fault.FieldError{Field: "cursor", Message: "is not a cursor this service returned"})
	}
	return string(b), nil
}

func checkID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fault.Invalidf("a product id is 1 to %d characters", MaxIDLen)
	}
	return nil
}

func checkQuery(q string) error {
	if !utf8.ValidString(q) || strings.TrimSpace(q) == "" || utf8.RuneCountInString(q) > MaxQueryLen {
		return fault.Fields(fault.FieldError{Field: "q", Message: fmt.Sprintf("must be 1 to %d characters of text, not blank", MaxQueryLen)})
	}
	return nil
}

// likePattern is q as a LIKE pattern matching it anywhere, lower case,
// with LIKE's wildcards escaped (by backslash, the queries' ESCAPE).
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(strings.TrimSpace(q))) + "%"
}
