package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/telemetry"
)

// MaxBody is the default limit on request bodies: 64 KiB is far above any
// legitimate request of the public API.
const MaxBody = 64 << 10

// Decode reads r's JSON body into dst strictly: the body must be a single
// JSON object (not null) no larger than MaxBody, with no unknown fields, no
// name twice in one object (compared case-insensitively, as encoding/json
// matches names to fields) and no values of the wrong type. It returns a fault.Invalid error naming the offending field,
// fault.TooLarge when the body is over the limit, or fault.Invalid with code
// "unsupported_media_type" for a non-JSON content type.
func Decode(w http.ResponseWriter, r *http.Request, dst any) error {
	return DecodeLimit(w, r, dst, MaxBody)
}

// DecodeLimit is Decode with a body limit of max bytes.
func DecodeLimit(w http.ResponseWriter, r *http.Request, dst any, max int64) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return fault.New(fault.Invalid, "unsupported_media_type", "the body must be application/json")
		}
	}
	if r.ContentLength > max {
		return tooLarge(max)
	}
	body := http.MaxBytesReader(w, r.Body, max)
	data, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(max)
		}
		return fault.Wrap(err, fault.Invalid, "", "could not read the request body")
	}
	return Unmarshal(data, dst)
}

func tooLarge(max int64) error {
	return fault.New(fault.TooLarge, "", fmt.Sprintf("the body is larger than %d bytes", max))
}

// Unmarshal decodes data into dst with the rules of Decode.
func Unmarshal(data []byte, dst any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return fault.New(fault.Invalid, "", "the request body is empty; a JSON object is expected")
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		// encoding/json reads null as "leave dst alone": a body of null
		// would pass as an empty object.
		return fault.New(fault.Invalid, "", "the body must be a JSON object, not null")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return fault.New(fault.Invalid, "", "the body has data after the JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return fault.New(fault.Invalid, "", "the body has data after the JSON value")
	}
	if path, dup := duplicateKey(data); dup {
		return fault.Fields(fault.FieldError{Field: path, Message: "appears more than once"})
	}
	return nil
}

// duplicateKey reports the dotted path of the first name that appears
// twice in one object of data, a valid JSON value. Names are compared the
// way encoding/json matches them to struct fields, case-insensitively: two
// spellings of one field are as ambiguous as one spelling twice, and a
// proxy or another parser that keeps the first where Go keeps the last
// would read another request than the service does.
//
// It scans the bytes once, without a token per value: every request body
// passes here (json.Decoder.Token cost the order service 4 % of its CPU).
func duplicateKey(data []byte) (string, bool) {
	var buf [8]dupFrame
	stack := buf[:0]
	for i := 0; i < len(data); {
		switch c := data[i]; c {
		case '{', '[':
			path := ""
			if n := len(stack); n > 0 {
				path = stack[n-1].childPath()
			}
			stack = append(stack, dupFrame{object: c == '{', wantKey: c == '{', path: path})
			i++
		case '}', ']':
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return "", false
			}
			stack[len(stack)-1].valueEnded()
			i++
		case '"':
			end, escaped := stringEnd(data, i)
			n := len(stack)
			if n == 0 || !stack[n-1].wantKey {
				if n > 0 {
					stack[n-1].valueEnded()
				}
				i = end
				continue
			}
			name := dupName{raw: data[i+1 : end-1], ascii: true}
			for _, b := range name.raw {
				if b >= utf8.RuneSelf || b == '\\' {
					name.ascii = false
					break
				}
			}
			if escaped || !name.ascii && !utf8.Valid(name.raw) {
				// As encoding/json reads it: escapes undone, bytes that are
				// not UTF-8 replaced by U+FFFD.
				var s string
				_ = json.Unmarshal(data[i:end], &s)
				name.raw = []byte(s)
			}
			if stack[n-1].add(name) {
				return joinPath(stack[n-1].path, string(name.raw)), true
			}
			i = end
		case ' ', '\t', '\r', '\n', ',', ':':
			i++
		default: // a number, true, false or null
			for i < len(data) && !isValueEnd(data[i]) {
				i++
			}
			if n := len(stack); n > 0 {
				stack[n-1].valueEnded()
			}
		}
	}
	return "", false
}

// dupFrame is an object or array open in duplicateKey's scan.
type dupFrame struct {
	object  bool
	wantKey bool
	path    string              // of the object or array
	names   []dupName           // the names of an object, while few
	seen    map[string]struct{} // their folded forms, once many
}

// dupName is a name of an object; raw is unescaped.
type dupName struct {
	raw   []byte
	ascii bool
	fold  string // folded, once computed
}

func (n *dupName) folded() string {
	if n.fold == "" {
		n.fold = foldName(string(n.raw))
	}
	return n.fold
}

// fewNames is how many names of an object are compared one by one before
// they go into a map.
const fewNames = 16

// add records a name of the object and reports whether it was seen before.
func (f *dupFrame) add(name dupName) (dup bool) {
	f.wantKey = false
	if f.seen == nil {
		for i := range f.names {
			if sameName(&f.names[i], &name) {
				return true
			}
		}
		f.names = append(f.names, name)
		if len(f.names) <= fewNames {
			return false
		}
		f.seen = make(map[string]struct{}, 2*fewNames)
		for i := range f.names[:len(f.names)-1] {
			f.seen[f.names[i].folded()] = struct{}{}
		}
		f.names = f.names[len(f.names)-1:]
	}
	fold := name.folded()
	if _, dup := f.seen[fold]; dup {
		return true
	}
	f.seen[fold] = struct{}{}
	f.names[0] = name // the last name, for childPath
	return false
}

// childPath is the path of a value that starts now inside f.
func (f *dupFrame) childPath() string {
	if !f.object || len(f.names) == 0 {
		return f.path
	}
	return joinPath(f.path, string(f.names[len(f.names)-1].raw))
}

// valueEnded moves an object on to its next name.
func (f *dupFrame) valueEnded() {
	if f.object {
		f.wantKey = true
	}
}

// sameName compares names the way encoding/json matches names to fields.
func sameName(a, b *dupName) bool {
	if a.ascii && b.ascii {
		// On ASCII, bytes.EqualFold folds A-Z to a-z and nothing else.
		return bytes.EqualFold(a.raw, b.raw)
	}
	return a.folded() == b.folded()
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func isValueEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', ':', ']', '}':
		return true
	}
	return false
}

// stringEnd returns the index just past the JSON string starting at
// data[start] (a quote) and whether it holds an escape.
func stringEnd(data []byte, start int) (end int, escaped bool) {
	for i := start + 1; i < len(data); i++ {
		switch data[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			return i + 1, escaped
		}
	}
	return len(data), escaped
}

// foldName folds a name the way duplicateKey compares names: ASCII names
// without an allocation beyond the result, others through Unicode case
// mapping.
func foldName(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.ToUpper(strings.ToLower(s))
		}
	}
	return strings.ToUpper(s)
}

func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fault.New(fault.Invalid, "", fmt.Sprintf("malformed JSON at byte %d", syntax.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fault.New(fault.Invalid, "", "malformed JSON: unexpected end")
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return fault.New(fault.Invalid, "", fmt.Sprintf("the body must be a JSON %s", typeErr.Type.Kind()))
		}
		return fault.Fields(fault.FieldError{Field: field, Message: fmt.Sprintf("must be %s, not %s", typeName(typeErr.Type.Kind().String()), typeErr.Value)})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fault.Fields(fault.FieldError{Field: name, Message: "unknown field"})
	}
	return fault.New(fault.Invalid, "", "malformed JSON")
}

func typeName(kind string) string {
	switch kind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer in range"
	case "float32", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "of another type"
}

// JSON writes v as a JSON response with the given status.
func JSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"status":500,"code":"internal"}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Error writes err as problem+json. Errors of kind Internal (and any error
// without a kind) are logged with the request id; their text is not shown.
func Error(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p := fault.ToProblem(err)
	p.RequestID = telemetry.RequestID(r.Context())
	p.Instance = r.URL.Path
	if p.Status >= 500 && log != nil {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "status", p.Status, "err", err)
	}
	WriteProblem(w, p)
}

// WriteProblem writes p with its status, setting Retry-After when p has one.
func WriteProblem(w http.ResponseWriter, p fault.Problem) {
	body, _ := json.Marshal(p)
	h := w.Header()
	h.Set("Content-Type", fault.ContentType)
	if p.RetryAfter > 0 {
		h.Set("Retry-After", fmt.Sprint(p.RetryAfter))
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}
