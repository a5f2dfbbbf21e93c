package main

import (
	"context"
	"fmt"
	"os"

	"github.com/crmsync/crmsync/postgres"
	"github.com/crmsync/crmsync/sqlite"
)

// runMigrate moves a SQLite CRM to PostgreSQL: items, trash, change log,
// users, groups, settings, partnerships with their sync state and the
// CardDAV store, with the counts verified. The target must be empty, so a
// second run is refused.
func runMigrate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "migrate", "migrate --from-db FILE --postgres URL")
	from := fs.String("from-db", "", "SQLite database `file` of the CRM to copy (not changed)")
	to := fs.String("postgres", "", "PostgreSQL `URL` to copy into; it must hold no CRM yet")
	if _, err := parseFlags(env, fs, args, 0); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return usagef("--from-db and --postgres are both required")
	}
	// sqlite.Open would create a missing file: say so instead.
	if _, err := os.Stat(*from); err != nil {
		return fmt.Errorf("reading the SQLite CRM: %w", err)
	}
	src, err := sqlite.Open(ctx, *from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, *to)
	if err != nil {
		return err
	}
	defer dst.Close()
	counts, err := dst.Import(ctx, src)
	if err != nil {
		return err
	}
	for _, c := range counts {
		fmt.Fprintf(env.Stdout, "%-16s %8d rows\n", c.Table, c.Rows)
	}
	fmt.Fprintf(env.Stdout, "Copied %s to %s; every table's count matches. Run crmsync with --postgres from now on, keeping --db %s: tokens and passwords stay in %s.\n",
		*from, redactURL(*to), *from, secretsDir(dbLocation{Path: *from}))
	return nil
}
