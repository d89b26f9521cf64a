package sqlstore

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// maxRebindCache bounds the cache so that queries built at run time (an IN
// list of varying length) cannot grow it without limit; past it, queries
// are rewritten on every call.
const maxRebindCache = 4096

// rebinder rewrites ? placeholders to PostgreSQL's $1..$n and caches the
// result per query text.
type rebinder struct {
	cache sync.Map // string -> string
	n     atomic.Int64
}

func newRebinder() *rebinder { return &rebinder{} }

func (r *rebinder) rebind(query string) string {
	if v, ok := r.cache.Load(query); ok {
		return v.(string)
	}
	out := Rebind(query)
	if r.n.Load() < maxRebindCache {
		if _, loaded := r.cache.LoadOrStore(query, out); !loaded {
			r.n.Add(1)
		}
	}
	return out
}

// Rebind rewrites each ? placeholder in query to $1, $2, ... in order,
// leaving alone any ? inside a single-quoted string literal, a double-quoted
// identifier, a -- line comment or a /* block comment */. A query without
// ? is returned unchanged. PostgreSQL's jsonb operators ?, ?| and ?& cannot
// be written in queries given to this package; use jsonb_exists and its
// siblings instead.
func Rebind(query string) string {
	if strings.IndexByte(query, '?') < 0 {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			// A doubled quote inside the literal closes and reopens it,
			// which this loop handles without special casing.
			j := strings.IndexByte(query[i+1:], c)
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+2])
			i += j + 1
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+1])
			i += j
		case c == '/' && i+1 < len(query) && query[i+1] == '*':
			j := strings.Index(query[i+2:], "*/")
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+4])
			i += j + 3
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
