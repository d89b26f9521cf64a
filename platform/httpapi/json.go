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
func duplicateKey(data []byte) (string, bool) {
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
			return "", false // io.EOF: done; anything else was refused before
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
		// A value ended: the enclosing object expects a name next.
		if top != nil && top.object {
			top.wantKey = true
			key = top.path
		} else if top != nil {
			key = top.path
		}
	}
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
