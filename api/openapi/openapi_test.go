package openapi

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// testDoc is a small document with what the validator must handle: $refs
// to every kind of component, a templated and a literal path on the same
// level, ranges, headers, and query and header parameters.
const testDoc = `{
  "openapi": "3.1.0",
  "info": {"title": "t", "version": "1"},
  "tags": [{"name": "things"}],
  "paths": {
    "/things": {
      "get": {
        "operationId": "listThings", "tags": ["things"],
        "parameters": [{"$ref": "#/components/parameters/Limit"}, {"name": "q", "in": "query", "required": true, "schema": {"type": "string", "minLength": 1}}],
        "responses": {
          "200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}}}}}},
          "4XX": {"$ref": "#/components/responses/Problem"}
        }
      },
      "post": {
        "operationId": "createThing", "security": [{"bearer": []}],
        "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 5}}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "required": ["name"], "properties": {"name": {"type": "string"}}}}}},
        "responses": {
          "201": {"description": "created", "headers": {"Location": {"required": true, "schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
          "429": {"description": "slow down", "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}, "content": {"application/problem+json": {"schema": {"type": "object"}}}}
        }
      }
    },
    "/things/{id}": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}}],
      "get": {"operationId": "getThing", "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}, "default": {"$ref": "#/components/responses/Problem"}}},
      "delete": {"operationId": "deleteThing", "responses": {"204": {"description": "gone"}}}
    },
    "/things/special": {
      "get": {"operationId": "getSpecial", "responses": {"200": {"description": "ok", "content": {"text/html": {}}}}}
    }
  },
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "schemas": {
      "Thing": {"type": "object", "required": ["id", "made"], "properties": {"id": {"type": "integer"}, "made": {"type": "string", "format": "date-time"}, "tag": {"type": ["string", "null"]}}}
    },
    "parameters": {"Limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}},
    "responses": {"Problem": {"description": "a problem", "content": {"application/problem+json": {"schema": {"type": "object", "required": ["status"]}}}}}
  }
}`

func mustParse(t *testing.T) *Document {
	t.Helper()
	d, err := Parse([]byte(testDoc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}

func jsonHeader(ct string, kv ...string) http.Header {
	h := http.Header{}
	if ct != "" {
		h.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestParse(t *testing.T) {
	d := mustParse(t)
	var got []string
	for _, o := range d.Operations() {
		got = append(got, o.Method+" "+o.Path+" "+o.ID)
	}
	want := "GET /things listThings,POST /things createThing,GET /things/special getSpecial,GET /things/{id} getThing,DELETE /things/{id} deleteThing"
	if strings.Join(got, ",") != want {
		t.Errorf("operations = %v, want %s", got, want)
	}
	if o := d.Operation("POST", "/things"); o == nil || len(o.Security) != 1 || !o.HasBody() {
		t.Errorf("POST /things = %+v, want its security and body", o)
	}
	if got, want := strings.Join(d.Operation("GET", "/things/{id}").Parameters(), ","), "path:id"; got != want {
		t.Errorf("parameters of getThing = %s, want %s (from the path item)", got, want)
	}
	if got := d.UnusedComponents(); len(got) != 0 {
		t.Errorf("UnusedComponents = %v, want none", got)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"version 3.0", `"openapi": "3.1.0"`, `"openapi": "3.0.3"`, "want 3.1.x"},
		{"unknown key", `"operationId": "getSpecial"`, `"operationId": "getSpecial", "reponses": {}`, `unknown field "reponses"`},
		{"no operationId", `"operationId": "deleteThing", `, ``, "DELETE /things/{id}: no operationId"},
		{"duplicate operationId", `"operationId": "getSpecial"`, `"operationId": "getThing"`, `operationId "getThing" is also`},
		{"dangling schema ref", `"$ref": "#/components/schemas/Thing"}}}}, "default"`, `"$ref": "#/components/schemas/Nope"}}}}, "default"`, `"#/components/schemas/Nope" does not resolve`},
		{"dangling response ref", `"4XX": {"$ref": "#/components/responses/Problem"}`, `"4XX": {"$ref": "#/components/responses/Nope"}`, `does not resolve`},
		{"invalid schema", `"minimum": 1, "maximum": 100`, `"minimum": "one"`, "not valid against metaschema"},
		{"undeclared template parameter", `"/things/special"`, `"/things/{kind}"`, "{kind} has no path parameter"},
		{"unknown tag", `"tags": ["things"],`, `"tags": ["other"],`, `tag "other" is not declared`},
		{"unknown security scheme", `[{"bearer": []}]`, `[{"basic": []}]`, `no security scheme "basic"`},
		{"bad status key", `"204": {"description": "gone"}`, `"2O4": {"description": "gone"}`, `response key "2O4"`},
		{"response without description", `"204": {"description": "gone"}`, `"204": {}`, "no description"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(testDoc, tt.old) {
				t.Fatalf("the test document has no %q", tt.old)
			}
			_, err := Parse([]byte(strings.Replace(testDoc, tt.old, tt.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestValidateResponse(t *testing.T) {
	d := mustParse(t)
	const thing = `{"id": 7, "made": "2026-01-02T03:04:05.123Z", "tag": null, "extra": true}`
	tests := []struct {
		name   string
		method string
		target string
		status int
		h      http.Header
		body   string
		want   string // "" for valid, else a fragment of the error
	}{
		{"valid list", "GET", "/things?q=x", 200, jsonHeader("application/json"), `{"items": [` + thing + `]}`, ""},
		{"charset is ignored", "GET", "/things/7", 200, jsonHeader("application/json; charset=utf-8"), thing, ""},
		{"missing required field", "GET", "/things/7", 200, jsonHeader("application/json"), `{"id": 7}`, "at /: missing property 'made'"},
		{"wrong type deep", "GET", "/things", 200, jsonHeader("application/json"), `{"items": [{"id": "7", "made": "2026-01-02T03:04:05Z"}]}`, "at /items/0/id: got string, want integer"},
		{"format asserted", "GET", "/things/7", 200, jsonHeader("application/json"), `{"id": 7, "made": "yesterday"}`, "'yesterday' is not valid date-time"},
		{"not JSON", "GET", "/things/7", 200, jsonHeader("application/json"), `<html>`, "body is not JSON"},
		{"undocumented status", "GET", "/things", 500, jsonHeader("application/problem+json"), `{"status": 500}`, "status 500 is not documented for operation listThings (documented: 200, 4XX)"},
		{"range", "GET", "/things", 404, jsonHeader("application/problem+json"), `{"status": 404}`, ""},
		{"default", "GET", "/things/7", 503, jsonHeader("application/problem+json"), `{"status": 503}`, ""},
		{"wrong content type", "GET", "/things", 404, jsonHeader("text/plain; charset=utf-8"), `404 page not found`, "content type text/plain is not documented (documented: application/problem+json)"},
		{"no content type", "GET", "/things", 404, jsonHeader(""), `{}`, `content type "" does not parse`},
		{"required header missing", "POST", "/things", 201, jsonHeader("application/json"), thing, "header Location is required but missing"},
		{"required header present", "POST", "/things", 201, jsonHeader("application/json", "Location", "/things/7"), thing, ""},
		{"header type", "POST", "/things", 429, jsonHeader("application/problem+json", "Retry-After", "soon"), `{}`, `header Retry-After: "soon" is not an integer`},
		{"header bound", "POST", "/things", 429, jsonHeader("application/problem+json", "Retry-After", "0"), `{}`, "minimum"},
		{"no body documented", "DELETE", "/things/7", 204, http.Header{}, ``, ""},
		{"unexpected body", "DELETE", "/things/7", 204, http.Header{}, `{}`, "documents no body"},
		{"literal path wins", "GET", "/things/special", 200, jsonHeader("text/html"), `<p>hi</p>`, ""},
		{"unknown path", "GET", "/nothing", 200, jsonHeader("application/json"), `{}`, "no path of the document matches"},
		{"unknown method", "PATCH", "/things/7", 200, jsonHeader("application/json"), `{}`, "has the path but not the method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.ValidateResponse(tt.method, tt.target, tt.status, tt.h, []byte(tt.body))
			checkErr(t, err, tt.want)
			if err != nil && !strings.Contains(err.Error(), tt.method+" ") {
				t.Errorf("the error does not name the method: %v", err)
			}
		})
	}
}

func TestValidateRequest(t *testing.T) {
	d := mustParse(t)
	tests := []struct {
		name   string
		method string
		target string
		h      http.Header
		body   string
		want   string
	}{
		{"valid query", "GET", "/things?q=x&limit=100&other=1", nil, "", ""},
		{"missing required query", "GET", "/things?limit=5", nil, "", "query parameter q is required but missing"},
		{"query over maximum", "GET", "/things?q=x&limit=101", nil, "", `query parameter limit: "101" at /: maximum`},
		{"query not an integer", "GET", "/things?q=x&limit=ten", nil, "", "is not an integer"},
		{"path parameter", "GET", "/things/0", nil, "", `path parameter id: "0"`},
		{"valid body", "POST", "/things", jsonHeader("application/json", "Idempotency-Key", "k1"), `{"name": "a"}`, ""},
		{"closed body", "POST", "/things", jsonHeader("application/json"), `{"name": "a", "nme": "b"}`, "additional properties 'nme' not allowed"},
		{"missing body", "POST", "/things", jsonHeader("application/json"), ``, "requires a body"},
		{"header parameter", "POST", "/things", jsonHeader("application/json", "Idempotency-Key", "toolong"), `{"name": "a"}`, "header parameter Idempotency-Key"},
		{"body not documented", "GET", "/things/1", jsonHeader("application/json"), `{}`, "documents no request body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.h
			if h == nil {
				h = http.Header{}
			}
			checkErr(t, d.ValidateRequest(tt.method, tt.target, h, []byte(tt.body)), tt.want)
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Errorf("got %v, want no error", err)
		}
		return
	}
	var m *Mismatch
	if !errors.As(err, &m) {
		t.Fatalf("got %v, want a *Mismatch containing %q", err, want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("got %v\nwant it to contain %q", err, want)
	}
}
