package openapi

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Mismatch is a request or response that the document does not describe.
type Mismatch struct {
	Method string
	Path   string
	Status int // 0 for a request
	// Problems lists what did not match, one sentence each.
	Problems []string
}

func (m *Mismatch) Error() string {
	what := "request"
	if m.Status != 0 {
		what = fmt.Sprintf("response %d", m.Status)
	}
	return fmt.Sprintf("%s %s: %s does not match the document:\n  - %s", m.Method, m.Path, what, strings.Join(m.Problems, "\n  - "))
}

func (m *Mismatch) add(format string, args ...any) {
	m.Problems = append(m.Problems, fmt.Sprintf(format, args...))
}

func (m *Mismatch) err() error {
	if len(m.Problems) == 0 {
		return nil
	}
	return m
}

// ValidateResponse checks a response to method on target (a path with an
// optional query) against the document: the status must be documented for
// the operation (exactly, by range or as default), the content type must
// be one of the response's media types, documented headers must be present
// when required and valid when present, and a JSON body must match the
// schema. It returns a *Mismatch, or nil.
func (d *Document) ValidateResponse(method, target string, status int, h http.Header, body []byte) error {
	path, _, _ := strings.Cut(target, "?")
	m := &Mismatch{Method: method, Path: path, Status: status}
	op, _, err := d.Match(method, path)
	if err != nil {
		m.add("%v", err)
		return m
	}
	key := strconv.Itoa(status)
	r := op.responses[key]
	if r == nil {
		key = key[:1] + "XX"
		r = op.responses[key]
	}
	if r == nil {
		key = "default"
		r = op.responses[key]
	}
	if r == nil {
		m.add("status %d is not documented for operation %s (documented: %s)", status, op.ID, strings.Join(op.Statuses(), ", "))
		return m
	}
	for name, hd := range r.headers {
		v := h.Get(name)
		if v == "" {
			if hd.required {
				m.add("header %s is required but missing", name)
			}
			continue
		}
		if msg := checkValue(hd.schema, hd.typ, v); msg != "" {
			m.add("header %s: %q %s", name, v, msg)
		}
	}
	if len(r.content) == 0 {
		if len(bytes.TrimSpace(body)) > 0 {
			m.add("the response documents no body, got %d bytes", len(body))
		}
		return m.err()
	}
	checkContent(m, "body", r.content, h.Get("Content-Type"), body)
	return m.err()
}

// ValidateRequest checks a request against the document: its operation
// must exist, required parameters must be present, parameters present must
// match their schemas, and the body must be documented and match. Unknown
// query parameters and headers are not errors (OpenAPI does not close
// them). It returns a *Mismatch, or nil.
func (d *Document) ValidateRequest(method, target string, h http.Header, body []byte) error {
	path, rawQuery, _ := strings.Cut(target, "?")
	m := &Mismatch{Method: method, Path: path}
	op, vals, err := d.Match(method, path)
	if err != nil {
		m.add("%v", err)
		return m
	}
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		m.add("the query does not parse: %v", err)
	}
	for _, p := range op.params {
		var v string
		var present bool
		switch p.in {
		case "path":
			v, present = vals[p.name]
		case "query":
			present = query.Has(p.name)
			v = query.Get(p.name)
		case "header":
			vs := h.Values(p.name)
			present = len(vs) > 0
			if present {
				v = vs[0]
			}
		case "cookie":
			continue
		}
		if !present {
			if p.required {
				m.add("%s parameter %s is required but missing", p.in, p.name)
			}
			continue
		}
		if msg := checkValue(p.schema, p.typ, v); msg != "" {
			m.add("%s parameter %s: %q %s", p.in, p.name, v, msg)
		}
	}
	switch {
	case op.body == nil:
		if len(bytes.TrimSpace(body)) > 0 {
			m.add("operation %s documents no request body, got %d bytes", op.ID, len(body))
		}
	case len(bytes.TrimSpace(body)) == 0:
		if op.body.required {
			m.add("operation %s requires a body", op.ID)
		}
	default:
		checkContent(m, "body", op.body.content, h.Get("Content-Type"), body)
	}
	return m.err()
}

// checkContent checks a body against the media types of content.
func checkContent(m *Mismatch, what string, content map[string]*jsonschema.Schema, contentType string, body []byte) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		m.add("content type %q does not parse (documented: %s)", contentType, strings.Join(sortedKeys(content), ", "))
		return
	}
	s, ok := content[mt]
	if !ok {
		m.add("content type %s is not documented (documented: %s)", mt, strings.Join(sortedKeys(content), ", "))
		return
	}
	if s == nil || !isJSON(mt) {
		return
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		m.add("%s is not JSON: %v: %.200q", what, err, body)
		return
	}
	if err := s.Validate(v); err != nil {
		for _, line := range schemaErrors(err) {
			m.add("%s %s", what, line)
		}
	}
}

func isJSON(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// checkValue converts the text of a parameter or header to the schema's
// type and validates it; it returns what is wrong, or "".
func checkValue(s *jsonschema.Schema, typ, text string) string {
	if s == nil {
		return ""
	}
	var v any = text
	switch typ {
	case "integer":
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return "is not an integer"
		}
		v = n
	case "number":
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return "is not a number"
		}
		v = f
	case "boolean":
		b, err := strconv.ParseBool(text)
		if err != nil || (text != "true" && text != "false") {
			return "is not true or false"
		}
		v = b
	}
	if err := s.Validate(v); err != nil {
		return strings.Join(schemaErrors(err), "; ")
	}
	return ""
}

// schemaErrors flattens a validation error to one line per failing
// keyword: "at /items/0/quantity: minimum: got 0, want 1 (schema ...)".
func schemaErrors(err error) []string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []string{err.Error()}
	}
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			loc := "/" + strings.Join(e.InstanceLocation, "/")
			out = append(out, fmt.Sprintf("at %s: %s (schema %s)", loc, e.ErrorKind.LocalizedString(english), strings.TrimPrefix(e.SchemaURL, resourceURL)))
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

var english = message.NewPrinter(language.English)

func canonicalHeader(name string) string { return textproto.CanonicalMIMEHeaderKey(name) }
