package order

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/souk/souk/platform/fault"
)

// cursor is a position in a newest-first listing: (created_at, id).
type cursor struct {
	createdAt int64
	id        string
}

func (c cursor) set() bool { return c.id != "" }

// String encodes c opaquely for clients.
func (c cursor) String() string {
	if !c.set() {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.createdAt, 10) + ":" + c.id))
}

func parseCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	bad := fault.Fields(fault.FieldError{Field: "cursor", Message: "is not a cursor this API returned"})
	if len(s) > 200 {
		return cursor{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, bad
	}
	ts, id, ok := strings.Cut(string(raw), ":")
	if !ok || id == "" || len(id) > maxIDLen {
		return cursor{}, bad
	}
	at, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return cursor{}, bad
	}
	return cursor{createdAt: at, id: id}, nil
}
