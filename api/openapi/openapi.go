package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// resourceURL names the document inside the schema compiler; schemas are
// compiled by JSON pointer into it, so their $refs resolve against it.
const resourceURL = "mem://souk/openapi.json"

// Methods are the HTTP methods a path item may describe, in the order
// OpenAPI lists them.
var Methods = []string{"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}

// Document is a parsed and checked OpenAPI 3.1 document.
type Document struct {
	// Version is the document's openapi field: "3.1.0".
	Version string
	// Security is the document's default security requirement.
	Security []map[string][]string

	ops  []*Operation
	refs []string // every $ref value in the document
	raw  any      // the document as jsonschema.UnmarshalJSON read it
	comp map[string][]string
}

// Operation is one method of one path.
type Operation struct {
	Method string // upper case
	Path   string // the template: /api/v1/orders/{id}
	ID     string
	Tags   []string
	// Security is the operation's effective security requirement: its own
	// when it sets one, else the document's. Empty means public.
	Security []map[string][]string

	segments  []string
	params    []*param
	body      *requestBody
	responses map[string]*response
}

// Statuses returns the response keys of the operation ("200", "4XX",
// "default"), sorted.
func (o *Operation) Statuses() []string {
	out := make([]string, 0, len(o.responses))
	for k := range o.responses {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// MediaTypes returns the media types documented for a response status key
// (as in Statuses), sorted; nil when the response has no body.
func (o *Operation) MediaTypes(status string) []string {
	r := o.responses[status]
	if r == nil {
		return nil
	}
	return sortedKeys(r.content)
}

// Headers returns the headers documented for a response status key, in
// canonical form, sorted.
func (o *Operation) Headers(status string) []string {
	r := o.responses[status]
	if r == nil {
		return nil
	}
	return sortedKeys(r.headers)
}

// Parameters returns the operation's parameters (its path item's
// included) as "in:name", sorted.
func (o *Operation) Parameters() []string {
	var out []string
	for _, p := range o.params {
		out = append(out, p.in+":"+p.name)
	}
	sort.Strings(out)
	return out
}

// HasBody reports whether the operation documents a request body.
func (o *Operation) HasBody() bool { return o.body != nil }

type param struct {
	name, in string
	required bool
	typ      string // the schema's type, for converting text
	schema   *jsonschema.Schema
}

type requestBody struct {
	required bool
	content  map[string]*jsonschema.Schema // media type → schema (nil: any)
}

type response struct {
	content map[string]*jsonschema.Schema
	headers map[string]*header // canonical name
}

type header struct {
	required bool
	typ      string
	schema   *jsonschema.Schema
}

// The OpenAPI objects as far as this package reads them. Decoding is
// strict: a key not listed here is an error in the document.
type (
	docJSON struct {
		OpenAPI           string                `json:"openapi"`
		Info              infoJSON              `json:"info"`
		JSONSchemaDialect string                `json:"jsonSchemaDialect"`
		Servers           []serverJSON          `json:"servers"`
		Paths             map[string]pathJSON   `json:"paths"`
		Components        componentsJSON        `json:"components"`
		Security          []map[string][]string `json:"security"`
		Tags              []tagJSON             `json:"tags"`
		ExternalDocs      *externalDocsJSON     `json:"externalDocs"`
	}
	infoJSON struct {
		Title          string `json:"title"`
		Summary        string `json:"summary"`
		Description    string `json:"description"`
		TermsOfService string `json:"termsOfService"`
		Contact        *struct {
			Name  string `json:"name"`
			URL   string `json:"url"`
			Email string `json:"email"`
		} `json:"contact"`
		License *struct {
			Name       string `json:"name"`
			Identifier string `json:"identifier"`
			URL        string `json:"url"`
		} `json:"license"`
		Version string `json:"version"`
	}
	serverJSON struct {
		URL         string         `json:"url"`
		Description string         `json:"description"`
		Variables   map[string]any `json:"variables"`
	}
	tagJSON struct {
		Name         string            `json:"name"`
		Description  string            `json:"description"`
		ExternalDocs *externalDocsJSON `json:"externalDocs"`
	}
	externalDocsJSON struct {
		Description string `json:"description"`
		URL         string `json:"url"`
	}
	componentsJSON struct {
		Schemas         map[string]json.RawMessage `json:"schemas"`
		Responses       map[string]responseJSON    `json:"responses"`
		Parameters      map[string]paramJSON       `json:"parameters"`
		Examples        map[string]json.RawMessage `json:"examples"`
		RequestBodies   map[string]bodyJSON        `json:"requestBodies"`
		Headers         map[string]headerJSON      `json:"headers"`
		SecuritySchemes map[string]securityJSON    `json:"securitySchemes"`
		Links           map[string]json.RawMessage `json:"links"`
		Callbacks       map[string]json.RawMessage `json:"callbacks"`
		PathItems       map[string]json.RawMessage `json:"pathItems"`
	}
	pathJSON struct {
		Ref         string       `json:"$ref"`
		Summary     string       `json:"summary"`
		Description string       `json:"description"`
		Servers     []serverJSON `json:"servers"`
		Parameters  []paramJSON  `json:"parameters"`
		Get         *opJSON      `json:"get"`
		Put         *opJSON      `json:"put"`
		Post        *opJSON      `json:"post"`
		Delete      *opJSON      `json:"delete"`
		Options     *opJSON      `json:"options"`
		Head        *opJSON      `json:"head"`
		Patch       *opJSON      `json:"patch"`
		Trace       *opJSON      `json:"trace"`
	}
	opJSON struct {
		Tags         []string                   `json:"tags"`
		Summary      string                     `json:"summary"`
		Description  string                     `json:"description"`
		ExternalDocs *externalDocsJSON          `json:"externalDocs"`
		OperationID  string                     `json:"operationId"`
		Parameters   []paramJSON                `json:"parameters"`
		RequestBody  *bodyJSON                  `json:"requestBody"`
		Responses    map[string]responseJSON    `json:"responses"`
		Callbacks    map[string]json.RawMessage `json:"callbacks"`
		Deprecated   bool                       `json:"deprecated"`
		Security     *[]map[string][]string     `json:"security"`
		Servers      []serverJSON               `json:"servers"`
	}
	paramJSON struct {
		Ref             string                     `json:"$ref"`
		Name            string                     `json:"name"`
		In              string                     `json:"in"`
		Summary         string                     `json:"summary"`
		Description     string                     `json:"description"`
		Required        bool                       `json:"required"`
		Deprecated      bool                       `json:"deprecated"`
		AllowEmptyValue bool                       `json:"allowEmptyValue"`
		Style           string                     `json:"style"`
		Explode         *bool                      `json:"explode"`
		Schema          json.RawMessage            `json:"schema"`
		Example         json.RawMessage            `json:"example"`
		Examples        map[string]json.RawMessage `json:"examples"`
	}
	bodyJSON struct {
		Ref         string                   `json:"$ref"`
		Summary     string                   `json:"summary"`
		Description string                   `json:"description"`
		Content     map[string]mediaTypeJSON `json:"content"`
		Required    bool                     `json:"required"`
	}
	mediaTypeJSON struct {
		Schema   json.RawMessage            `json:"schema"`
		Example  json.RawMessage            `json:"example"`
		Examples map[string]json.RawMessage `json:"examples"`
		Encoding map[string]json.RawMessage `json:"encoding"`
	}
	responseJSON struct {
		Ref         string                     `json:"$ref"`
		Summary     string                     `json:"summary"`
		Description string                     `json:"description"`
		Headers     map[string]headerJSON      `json:"headers"`
		Content     map[string]mediaTypeJSON   `json:"content"`
		Links       map[string]json.RawMessage `json:"links"`
	}
	headerJSON struct {
		Ref         string                     `json:"$ref"`
		Summary     string                     `json:"summary"`
		Description string                     `json:"description"`
		Required    bool                       `json:"required"`
		Deprecated  bool                       `json:"deprecated"`
		Style       string                     `json:"style"`
		Explode     *bool                      `json:"explode"`
		Schema      json.RawMessage            `json:"schema"`
		Example     json.RawMessage            `json:"example"`
		Examples    map[string]json.RawMessage `json:"examples"`
	}
	securityJSON struct {
		Type             string         `json:"type"`
		Description      string         `json:"description"`
		Name             string         `json:"name"`
		In               string         `json:"in"`
		Scheme           string         `json:"scheme"`
		BearerFormat     string         `json:"bearerFormat"`
		Flows            map[string]any `json:"flows"`
		OpenIDConnectURL string         `json:"openIdConnectUrl"`
	}
)

// parser holds the state of one Parse.
type parser struct {
	doc      docJSON
	raw      any
	compiler *jsonschema.Compiler
	errs     []error
}

func (p *parser) errorf(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

// Parse reads and checks an OpenAPI 3.1 document in JSON. The error lists
// every problem found, one per line.
func Parse(data []byte) (*Document, error) {
	p := &parser{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p.doc); err != nil {
		return nil, fmt.Errorf("openapi: decode: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("openapi: data after the document")
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("openapi: decode: %w", err)
	}
	p.raw = raw
	p.compiler = jsonschema.NewCompiler()
	p.compiler.DefaultDraft(jsonschema.Draft2020)
	p.compiler.AssertFormat()
	if err := p.compiler.AddResource(resourceURL, raw); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}

	d := &Document{Version: p.doc.OpenAPI, Security: p.doc.Security, raw: raw}
	p.checkTop()
	d.refs = collectRefs(raw, nil)
	for _, ref := range d.refs {
		if _, ok := p.resolve(ref); !ok {
			p.errorf("$ref %q does not resolve inside the document", ref)
		}
	}
	for name := range p.doc.Components.Schemas {
		p.schema("#/components/schemas/" + escape(name))
	}
	for _, path := range sortedKeys(p.doc.Paths) {
		d.ops = append(d.ops, p.pathItem(path, p.doc.Paths[path])...)
	}
	ids := map[string]string{}
	for _, o := range d.ops {
		where := o.Method + " " + o.Path
		if o.ID == "" {
			p.errorf("%s: no operationId", where)
		} else if prev, ok := ids[o.ID]; ok {
			p.errorf("%s: operationId %q is also %s's", where, o.ID, prev)
		} else {
			ids[o.ID] = where
		}
	}
	d.comp = map[string][]string{
		"schemas":    sortedKeys(p.doc.Components.Schemas),
		"responses":  sortedKeys(p.doc.Components.Responses),
		"parameters": sortedKeys(p.doc.Components.Parameters),
		"headers":    sortedKeys(p.doc.Components.Headers),
	}
	if len(p.errs) > 0 {
		return nil, fmt.Errorf("openapi: the document has %d problems:\n%w", len(p.errs), errors.Join(p.errs...))
	}
	return d, nil
}

func (p *parser) checkTop() {
	if !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(p.doc.OpenAPI) {
		p.errorf("openapi is %q, want 3.1.x", p.doc.OpenAPI)
	}
	if p.doc.Info.Title == "" || p.doc.Info.Version == "" {
		p.errorf("info needs a title and a version")
	}
	for i, s := range p.doc.Servers {
		if u, err := url.Parse(s.URL); err != nil || s.URL == "" || (u.Scheme == "" && !strings.HasPrefix(s.URL, "/")) {
			p.errorf("servers[%d]: url %q is not a URL", i, s.URL)
		}
	}
	for name, s := range p.doc.Components.SecuritySchemes {
		switch s.Type {
		case "http":
			if s.Scheme == "" {
				p.errorf("securitySchemes.%s: an http scheme needs scheme", name)
			}
		case "apiKey", "oauth2", "openIdConnect", "mutualTLS":
		default:
			p.errorf("securitySchemes.%s: unknown type %q", name, s.Type)
		}
	}
	p.checkSecurity("security", p.doc.Security)
	seen := map[string]bool{}
	for _, t := range p.doc.Tags {
		if t.Name == "" || seen[t.Name] {
			p.errorf("tags: %q is empty or listed twice", t.Name)
		}
		seen[t.Name] = true
	}
}

func (p *parser) checkSecurity(where string, reqs []map[string][]string) {
	for _, req := range reqs {
		for name := range req {
			if _, ok := p.doc.Components.SecuritySchemes[name]; !ok {
				p.errorf("%s: no security scheme %q", where, name)
			}
		}
	}
}

var templateParam = regexp.MustCompile(`^\{([A-Za-z0-9_.-]+)\}$`)

// pathItem returns the operations of one path.
func (p *parser) pathItem(path string, item pathJSON) []*Operation {
	where := "paths." + path
	if !strings.HasPrefix(path, "/") {
		p.errorf("%s: a path starts with /", where)
	}
	if item.Ref != "" {
		p.errorf("%s: path item $refs are not supported", where)
		return nil
	}
	segments := strings.Split(strings.TrimPrefix(path, "/"), "/")
	inTemplate := map[string]bool{}
	for _, s := range segments {
		if m := templateParam.FindStringSubmatch(s); m != nil {
			if inTemplate[m[1]] {
				p.errorf("%s: {%s} appears twice", where, m[1])
			}
			inTemplate[m[1]] = true
		} else if strings.ContainsAny(s, "{}") {
			p.errorf("%s: a template parameter must be a whole segment", where)
		}
	}
	base := "#/paths/" + escape(path)
	shared := p.params(where, base+"/parameters", item.Parameters)
	var ops []*Operation
	for _, m := range Methods {
		oj := item.method(m)
		if oj == nil {
			continue
		}
		lm := strings.ToLower(m)
		ow := where + "." + lm
		o := &Operation{Method: m, Path: path, ID: oj.OperationID, Tags: oj.Tags, segments: segments, responses: map[string]*response{}}
		o.Security = p.doc.Security
		if oj.Security != nil {
			o.Security = *oj.Security
			p.checkSecurity(ow+".security", o.Security)
		}
		for _, t := range oj.Tags {
			if !slices.ContainsFunc(p.doc.Tags, func(tj tagJSON) bool { return tj.Name == t }) {
				p.errorf("%s: tag %q is not declared in tags", ow, t)
			}
		}
		own := p.params(ow, base+"/"+lm+"/parameters", oj.Parameters)
		// An operation's parameter replaces its path item's of the same
		// name and location.
		o.params = append(o.params, own...)
		for _, sp := range shared {
			if !slices.ContainsFunc(own, func(q *param) bool { return q.name == sp.name && q.in == sp.in }) {
				o.params = append(o.params, sp)
			}
		}
		declared := map[string]bool{}
		for _, q := range o.params {
			if q.in != "path" {
				continue
			}
			declared[q.name] = true
			if !inTemplate[q.name] {
				p.errorf("%s: path parameter %q is not in the path", ow, q.name)
			}
			if !q.required {
				p.errorf("%s: path parameter %q must be required", ow, q.name)
			}
		}
		for name := range inTemplate {
			if !declared[name] {
				p.errorf("%s: {%s} has no path parameter", ow, name)
			}
		}
		if oj.RequestBody != nil {
			o.body = p.body(ow+".requestBody", base+"/"+lm+"/requestBody", *oj.RequestBody)
		}
		if len(oj.Responses) == 0 {
			p.errorf("%s: no responses", ow)
		}
		for code, rj := range oj.Responses {
			if !validStatusKey(code) {
				p.errorf("%s: response key %q is not a status, a range like 4XX, or default", ow, code)
			}
			o.responses[code] = p.response(ow+".responses."+code, base+"/"+lm+"/responses/"+escape(code), rj)
		}
		ops = append(ops, o)
	}
	return ops
}

func (item pathJSON) method(m string) *opJSON {
	switch m {
	case "GET":
		return item.Get
	case "PUT":
		return item.Put
	case "POST":
		return item.Post
	case "DELETE":
		return item.Delete
	case "OPTIONS":
		return item.Options
	case "HEAD":
		return item.Head
	case "PATCH":
		return item.Patch
	case "TRACE":
		return item.Trace
	}
	return nil
}

func validStatusKey(k string) bool {
	if k == "default" {
		return true
	}
	if len(k) != 3 || k[0] < '1' || k[0] > '5' {
		return false
	}
	if k[1:] == "XX" {
		return true
	}
	n, err := strconv.Atoi(k)
	return err == nil && n >= 100 && n <= 599
}

// params reads a parameter list at pointer ptr.
func (p *parser) params(where, ptr string, list []paramJSON) []*param {
	var out []*param
	for i, pj := range list {
		pw := fmt.Sprintf("%s.parameters[%d]", where, i)
		pp := fmt.Sprintf("%s/%d", ptr, i)
		if pj.Ref != "" {
			target, ok := p.component(pw, pj.Ref, "#/components/parameters/")
			if !ok {
				continue
			}
			pj, pp = p.doc.Components.Parameters[target], pj.Ref
		}
		switch pj.In {
		case "path", "query", "header", "cookie":
		default:
			p.errorf("%s: in %q: want path, query, header or cookie", pw, pj.In)
		}
		if pj.Name == "" {
			p.errorf("%s: no name", pw)
		}
		if pj.Schema == nil {
			p.errorf("%s (%s): no schema", pw, pj.Name)
			continue
		}
		name := pj.Name
		if pj.In == "header" {
			name = canonicalHeader(name)
		}
		out = append(out, &param{name: name, in: pj.In, required: pj.Required, typ: p.schemaType(pj.Schema), schema: p.schema(pp + "/schema")})
	}
	return out
}

func (p *parser) body(where, ptr string, bj bodyJSON) *requestBody {
	if bj.Ref != "" {
		target, ok := p.component(where, bj.Ref, "#/components/requestBodies/")
		if !ok {
			return nil
		}
		bj, ptr = p.doc.Components.RequestBodies[target], bj.Ref
	}
	if len(bj.Content) == 0 {
		p.errorf("%s: no content", where)
	}
	return &requestBody{required: bj.Required, content: p.content(where, ptr, bj.Content)}
}

func (p *parser) response(where, ptr string, rj responseJSON) *response {
	if rj.Ref != "" {
		target, ok := p.component(where, rj.Ref, "#/components/responses/")
		if !ok {
			return &response{}
		}
		rj, ptr = p.doc.Components.Responses[target], rj.Ref
	}
	if rj.Description == "" {
		p.errorf("%s: no description", where)
	}
	r := &response{content: p.content(where, ptr, rj.Content), headers: map[string]*header{}}
	for name, hj := range rj.Headers {
		hp := ptr + "/headers/" + escape(name)
		if hj.Ref != "" {
			target, ok := p.component(where+".headers."+name, hj.Ref, "#/components/headers/")
			if !ok {
				continue
			}
			hj, hp = p.doc.Components.Headers[target], hj.Ref
		}
		if hj.Schema == nil {
			p.errorf("%s.headers.%s: no schema", where, name)
			continue
		}
		r.headers[canonicalHeader(name)] = &header{required: hj.Required, typ: p.schemaType(hj.Schema), schema: p.schema(hp + "/schema")}
	}
	return r
}

func (p *parser) content(where, ptr string, content map[string]mediaTypeJSON) map[string]*jsonschema.Schema {
	out := map[string]*jsonschema.Schema{}
	for mt, m := range content {
		if _, _, err := mime.ParseMediaType(mt); err != nil {
			p.errorf("%s: media type %q: %v", where, mt, err)
		}
		var s *jsonschema.Schema
		if m.Schema != nil {
			s = p.schema(ptr + "/content/" + escape(mt) + "/schema")
		}
		out[mt] = s
	}
	return out
}

// component checks that ref points at a component under prefix and
// returns its name.
func (p *parser) component(where, ref, prefix string) (string, bool) {
	name, ok := strings.CutPrefix(ref, prefix)
	if !ok || strings.Contains(name, "/") {
		p.errorf("%s: $ref %q: want %s<name>", where, ref, prefix)
		return "", false
	}
	name = unescape(name)
	var found bool
	switch prefix {
	case "#/components/parameters/":
		_, found = p.doc.Components.Parameters[name]
	case "#/components/requestBodies/":
		_, found = p.doc.Components.RequestBodies[name]
	case "#/components/responses/":
		_, found = p.doc.Components.Responses[name]
	case "#/components/headers/":
		_, found = p.doc.Components.Headers[name]
	}
	if !found {
		p.errorf("%s: $ref %q does not resolve", where, ref)
	}
	return name, found
}

// schema compiles the schema at a JSON pointer of the document.
func (p *parser) schema(ptr string) *jsonschema.Schema {
	s, err := p.compiler.Compile(resourceURL + ptr)
	if err != nil {
		p.errorf("schema %s: %v", ptr, err)
		return nil
	}
	return s
}

// schemaType returns the type a parameter's or header's text converts to:
// integer, number, boolean or string. A $ref is followed.
func (p *parser) schemaType(raw json.RawMessage) string {
	for range 8 {
		var s struct {
			Type any    `json:"type"`
			Ref  string `json:"$ref"`
		}
		if json.Unmarshal(raw, &s) != nil {
			return "string"
		}
		if t, ok := s.Type.(string); ok {
			return t
		}
		if s.Ref == "" {
			return "string"
		}
		v, ok := p.resolve(s.Ref)
		if !ok {
			return "string"
		}
		b, err := json.Marshal(v)
		if err != nil {
			return "string"
		}
		raw = b
	}
	return "string"
}

// resolve follows a local JSON pointer reference ("#/a/b") in the raw
// document.
func (p *parser) resolve(ref string) (any, bool) {
	ptr, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, false
	}
	if ptr == "" {
		return p.raw, true
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, false
	}
	v := p.raw
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = unescape(tok)
		switch node := v.(type) {
		case map[string]any:
			next, ok := node[tok]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(node) {
				return nil, false
			}
			v = node[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// collectRefs returns every "$ref" string in v.
func collectRefs(v any, out []string) []string {
	switch node := v.(type) {
	case map[string]any:
		if r, ok := node["$ref"].(string); ok {
			out = append(out, r)
		}
		for _, k := range sortedKeys(node) {
			out = collectRefs(node[k], out)
		}
	case []any:
		for _, e := range node {
			out = collectRefs(e, out)
		}
	}
	return out
}

// Operations returns every operation, by path then method.
func (d *Document) Operations() []*Operation { return slices.Clone(d.ops) }

// Operation returns the operation of method on a path template, or nil.
func (d *Document) Operation(method, template string) *Operation {
	for _, o := range d.ops {
		if o.Method == method && o.Path == template {
			return o
		}
	}
	return nil
}

// Refs returns every $ref in the document, in document order.
func (d *Document) Refs() []string { return slices.Clone(d.refs) }

// UnusedComponents returns the components (schemas, responses, parameters,
// headers) that no $ref names, as "schemas/Name".
func (d *Document) UnusedComponents() []string {
	used := map[string]bool{}
	for _, r := range d.refs {
		if rest, ok := strings.CutPrefix(r, "#/components/"); ok {
			kind, name, _ := strings.Cut(rest, "/")
			name, _, _ = strings.Cut(name, "/")
			used[kind+"/"+unescape(name)] = true
		}
	}
	var out []string
	for _, kind := range sortedKeys(d.comp) {
		for _, name := range d.comp[kind] {
			if !used[kind+"/"+name] {
				out = append(out, kind+"/"+name)
			}
		}
	}
	return out
}

// Match returns the operation for method on a concrete path and the
// values of its path parameters. Literal segments win over templated ones,
// as OpenAPI asks.
func (d *Document) Match(method, path string) (*Operation, map[string]string, error) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var best *Operation
	bestLiterals := -1
	pathKnown := false
	for _, o := range d.ops {
		lit, ok := matchSegments(o.segments, segs)
		if !ok {
			continue
		}
		pathKnown = true
		if o.Method == method && lit > bestLiterals {
			best, bestLiterals = o, lit
		}
	}
	if best == nil {
		if pathKnown {
			return nil, nil, fmt.Errorf("%s %s: the document has the path but not the method", method, path)
		}
		return nil, nil, fmt.Errorf("%s %s: no path of the document matches", method, path)
	}
	vals := map[string]string{}
	for i, s := range best.segments {
		if m := templateParam.FindStringSubmatch(s); m != nil {
			v, err := url.PathUnescape(segs[i])
			if err != nil {
				v = segs[i]
			}
			vals[m[1]] = v
		}
	}
	return best, vals, nil
}

func matchSegments(tmpl, segs []string) (literals int, ok bool) {
	if len(tmpl) != len(segs) {
		return 0, false
	}
	for i, t := range tmpl {
		if templateParam.MatchString(t) {
			if segs[i] == "" {
				return 0, false
			}
			continue
		}
		if t != segs[i] {
			return 0, false
		}
		literals++
	}
	return literals, true
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// escape makes s one JSON pointer token (RFC 6901).
func escape(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

func unescape(s string) string {
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(s)
}
