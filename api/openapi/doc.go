// Package openapi reads an OpenAPI 3.1 document and checks real HTTP
// requests and responses against it, so that tests can keep the document
// true to the system it describes.
//
// Parse checks the document itself: strict structure (an unknown key in an
// OpenAPI object is an error, so a misspelt "reponses" cannot hide; "x-"
// extensions are refused for the same reason), version 3.1.x, unique
// operation ids, path templates whose parameters are all declared, tags and
// security schemes that exist, and every $ref resolving inside the
// document. Every schema is compiled as JSON Schema 2020-12 (the dialect of
// OpenAPI 3.1) by github.com/santhosh-tekuri/jsonschema/v6, which also
// checks it against the 2020-12 meta-schema; formats (date-time, email,
// uri, uuid) are asserted, not just annotations.
//
// ValidateResponse finds the operation of a method and a concrete path
// (literal segments win over templated ones), then the response of the
// status (the exact code, else its range such as 4XX, else default), and
// checks the media type, the documented headers and the body against the
// schema. ValidateRequest does the same for the parameters (path, query
// and header values are converted to the schema's type first) and the
// body. Every error names the method, the path and the status, and lists
// each mismatch with its location in the body.
//
// A Document is immutable once parsed and safe for concurrent use.
package openapi
