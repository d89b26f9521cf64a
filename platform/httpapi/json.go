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
// JSON value no larger than MaxBody, with no unknown fields and no values of
// the wrong type. It returns a fault.Invalid error naming the offending field,
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
	return nil
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
