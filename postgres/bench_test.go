package postgres_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/sqlite"
	"github.com/crmsync/crmsync/storetest"
)

// BenchmarkStores runs the store benchmarks on SQLite and on PostgreSQL in
// one run, 100,000 contacts each:
//
//	go test ./postgres -run - -bench Stores
func BenchmarkStores(b *testing.B) {
	const contacts = 100_000
	b.Run("store=sqlite", func(b *testing.B) {
		storetest.Bench(b, func(tb testing.TB) service.Store {
			db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "crm.db"))
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { db.Close() })
			return db
		}, contacts)
	})
	b.Run("store=postgres", func(b *testing.B) {
		storetest.Bench(b, func(tb testing.TB) service.Store { return MustOpen(tb) }, contacts)
	})
}
