package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/crmsync/crmsync/internal/schema"
	"github.com/jackc/pgx/v5"
)

// migrations holds the numbered schema changes, NNNN_name.sql, applied in
// numeric order (0002, the enum seed, comes from internal/schema): 0001-0099
// the CRM store, 0100 and up the sync and CardDAV state, numbered like the
// SQLite store's where they match.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrate applies every migration not yet recorded in schema_migrations,
// each in its own transaction with its record, while holding a session
// advisory lock: a second node starting at the same time waits, then finds
// everything applied.
func (db *DB) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	ms, err := schema.Load(sub, schema.EnumSeed)
	if err != nil {
		return err
	}
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrating: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", db.migrateLock); err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", db.migrateLock)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		number     integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	for _, m := range ms {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var done bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE number = $1)", m.Number).Scan(&done); err != nil || done {
				return err
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (number, name) VALUES ($1, $2)", m.Number, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("applying migration %s: %w", m.Name, err)
		}
	}
	return nil
}
