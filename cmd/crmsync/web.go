package main

import (
	"context"
	"fmt"

	"github.com/crmsync/crmsync/web"
)

// The web UI, on the same listener as the API and CardDAV.
func init() { mounts = append(mounts, mountWeb) }

func mountWeb(ctx context.Context, s *Server) error {
	h, err := newWebUI(s.CRM)
	if err != nil {
		return err
	}
	h.Mount(s.Mux)
	return nil
}

// newWebUI builds the UI over crm, which must offer the paged listing
// (the service does).
func newWebUI(crm any) (*web.Handler, error) {
	wc, ok := crm.(web.CRM)
	if !ok {
		return nil, fmt.Errorf("the CRM does not support the web UI's listing")
	}
	return web.New(web.Options{CRM: wc, CardDAVPath: "/dav/"})
}
