package postgres_test

import (
	"context"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/crmsync/crmsync/internal/schema"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/postgres"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/storetest"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
)

// MustOpen opens a store on a fresh schema of the test PostgreSQL.
func MustOpen(tb testing.TB) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), testenv.Postgres(tb))
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
	storetest.CardDAV(t, MustOpen(t).CardDAVStore())
}

// TestNodesStartingTogetherMigrateOnce: several nodes open one empty
// schema at the same moment; each migration is applied once and every
// Open succeeds (without the lock they would race on CREATE TABLE).
func TestNodesStartingTogetherMigrateOnce(t *testing.T) {
	url := testenv.Postgres(t)
	ctx := context.Background()
	const nodes = 4
	errs := make(chan error, nodes)
	var wg sync.WaitGroup
	for range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := postgres.Open(ctx, url)
			if err == nil {
				err = db.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT name FROM schema_migrations ORDER BY number")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{schema.EnumSeed.Name}
	for _, e := range entries {
		want = append(want, e.Name())
	}
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("applied migrations (-files +recorded):\n%s", diff)
	}
	var enums int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM enum_values").Scan(&enums); err != nil || enums == 0 {
		t.Errorf("seeded enum values: %d, %v", enums, err)
	}
}

func TestBadURLDoesNotLeakPassword(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://crm:s3cret-pw@[::1/db")
	if err == nil {
		t.Fatal("a malformed URL opened")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error repeats the password: %v", err)
	}
}
