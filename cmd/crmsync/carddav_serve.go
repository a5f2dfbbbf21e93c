package main

import (
	"context"
	"net/http"

	"github.com/crmsync/crmsync/carddav"
)

// The CardDAV server for phones and mail clients: /.well-known/carddav and
// /dav/ on the same listener as the API, over the same users.
func init() { mounts = append(mounts, mountCardDAV) }

func mountCardDAV(ctx context.Context, s *Server) error {
	store, err := s.DB.cardDAV(ctx)
	if err != nil {
		return err
	}
	// The handler writes its hrefs from its prefix, so it gets the public
	// one (under --base-path) and the paths as the client sent them.
	h := carddav.NewHandler(s.CRM, carddav.Options{Store: store, Logger: s.Logger, Prefix: s.BasePath + "/dav/"})
	s.Mux.Handle("/.well-known/carddav", h)
	s.Mux.Handle("/.well-known/carddav/", h)
	s.HandlePublic(h, "/dav/")
	// Phones and mail clients given the server's address ask its root
	// with PROPFIND before (or instead of) the well-known address: send
	// them to the DAV root as that address does; browsers get the web UI.
	s.Mux.HandleFunc("PROPFIND /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, s.BasePath+"/dav/", http.StatusMovedPermanently)
	})
	return nil
}
