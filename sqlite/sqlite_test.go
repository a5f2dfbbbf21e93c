package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/crmsync/crmsync/carddav"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/sqlite"
	"github.com/crmsync/crmsync/storetest"
)

// MustOpen opens a fresh database in a temporary directory.
func MustOpen(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "crm.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) service.Store { return MustOpen(t) })
}

func TestCardDAVStore(t *testing.T) {
	s, err := carddav.NewSQLStore(context.Background(), MustOpen(t))
	if err != nil {
		t.Fatal(err)
	}
	storetest.CardDAV(t, s)
}
