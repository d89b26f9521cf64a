// Package web is the storefront: static pages served by the gateway that
// use the public API from the browser, like any other client.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var files embed.FS

// Handler serves the storefront at / and its assets under /ui/.
func Handler() http.Handler {
	static, _ := fs.Sub(files, "static")
	fileServer := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'")
		if r.URL.Path == "/" {
			http.ServeFileFS(w, r, static, "index.html")
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = r.URL.Path[len("/ui"):]
		fileServer.ServeHTTP(w, r2)
	})
}
