package main

import (
	"context"

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
	carddav.NewHandler(s.CRM, carddav.Options{Store: store, Logger: s.Logger}).Mount(s.Mux)
	return nil
}
