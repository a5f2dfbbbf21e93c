package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/crmsync/crmsync/internal/schema"
)

// migrations holds the numbered schema changes, NNNN_name.sql, applied in
// numeric order (0002, the enum seed, comes from internal/schema). 0001-0099 belong to the CRM store, 0100 and up to the
// sync state kept in the same file.
//
//go:embed migrations/*.sql
var migrations embed.FS

func loadMigrations() ([]schema.Migration, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return schema.Load(sub, schema.EnumSeed)
}

// migrate applies every migration not yet recorded in schema_migrations,
// each in its own transaction together with its record.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		number INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
	)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	for _, m := range ms {
		err := db.Update(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE number = ?", m.Number).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (number, name) VALUES (?, ?)", m.Number, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("applying migration %s: %w", m.Name, err)
		}
	}
	return nil
}
