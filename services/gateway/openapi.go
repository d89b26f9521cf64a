package gateway

import (
	_ "embed"

	"github.com/valyala/fasthttp"
)

// OpenAPI is the public API's OpenAPI 3.1 document.
//
//go:embed openapi.json
var OpenAPI []byte

func serveOpenAPI(ctx *fasthttp.RequestCtx, _ *request) {
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "public, max-age=300")
	ctx.SetBody(OpenAPI)
}
