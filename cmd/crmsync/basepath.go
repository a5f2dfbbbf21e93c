package main

import (
	"net/http"
	"strings"

	"github.com/crmsync/crmsync/ewayapi"
)

// cleanBasePath checks --base-path: "" or "/" for the root, otherwise a
// path such as /eway (a trailing slash is dropped), as eWay service URLs
// carry one (https://host/eway/).
func cleanBasePath(p string) (string, error) {
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return "", nil
	}
	if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || strings.ContainsAny(p, "?#%\\ ") ||
		strings.Contains(p+"/", "/../") || strings.Contains(p+"/", "/./") {
		return "", usagef("--base-path must be a plain URL path such as /eway, got %q", p)
	}
	return p, nil
}

// underBasePath serves mux under base: the API, CardDAV and the web UI all
// move together, and a request outside base, or one that no mount answers,
// gets the eWay JSON envelope (ewayapi.NotFound) rather than a plain-text
// 404, since eWay clients read every answer as JSON; so does any unknown
// *.svc path, even where the web UI answers the rest.
func underBasePath(base string, mux *http.ServeMux) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		if pattern == "" || strings.Contains(strings.ToLower(r.URL.Path), ".svc") && !ewayapi.IsAPIPath(r.URL.Path) {
			ewayapi.NotFound(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	if base == "" {
		return inner
	}
	strip := http.StripPrefix(base, inner)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == base:
			http.Redirect(w, r, base+"/", http.StatusMovedPermanently)
		case strings.HasPrefix(r.URL.Path, base+"/"):
			strip.ServeHTTP(w, r)
		case strings.HasPrefix(r.URL.Path, "/.well-known/"):
			inner.ServeHTTP(w, r) // RFC 8615: discovery lives at the host's root
		default:
			ewayapi.NotFound(w, r)
		}
	})
}

// HandlePublic mounts h at patterns (paths below the base path) for a
// handler that writes absolute links from the request path: h sees the
// path as the client sent it, base path included.
func (s *Server) HandlePublic(h http.Handler, patterns ...string) {
	public := h
	if s.BasePath != "" {
		public = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r2 := r.Clone(r.Context())
			r2.URL.Path = s.BasePath + r.URL.Path
			if r.URL.RawPath != "" {
				r2.URL.RawPath = s.BasePath + r.URL.RawPath
			}
			h.ServeHTTP(w, r2)
		})
	}
	for _, p := range patterns {
		s.Mux.Handle(p, public)
	}
}
