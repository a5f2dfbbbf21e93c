package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// SQLSource is a database/sql store to import from, as the sqlite
// adapter's DB offers it: View runs fn on one consistent snapshot.
type SQLSource interface {
	View(ctx context.Context, fn func(*sql.Tx) error) error
}

// importTable is one table the import copies: its columns, and which of
// them SQLite keeps as 0/1 (booleans here) or as RFC 3339 text
// (timestamps here).
type importTable struct {
	name    string
	columns []string
	bools   []string
	times   []string
	// optional tables exist in SQLite only once used (the CardDAV store
	// creates its tables on first start).
	optional bool
}

// importTables lists every table of a crmsync database in an order that
// satisfies the foreign keys.
var importTables = []importTable{
	{name: "items", columns: []string{"id", "folder", "guid", "version", "trashed", "owner", "private", "company_guid", "contact_guid", "email1_lower", "name_lower", "fields"},
		bools: []string{"trashed", "private"}},
	{name: "changes", columns: []string{"id", "item_id", "folder", "guid", "version", "removed", "at", "owner", "private", "company_guid", "contact_guid"},
		bools: []string{"removed", "private"}},
	{name: "users", columns: []string{"guid", "name", "full_name", "password_hash", "is_admin", "disabled"}, bools: []string{"is_admin", "disabled"}},
	{name: "groups", columns: []string{"name"}},
	{name: "group_rights", columns: []string{"group_name", "folder", "view", "edit", "del", "can_create", "can_export"}, bools: []string{"can_create", "can_export"}},
	{name: "group_members", columns: []string{"group_name", "user_guid"}},
	{name: "user_settings", columns: []string{"user_guid", "path", "name", "value"}},
	{name: "global_settings", columns: []string{"name", "value"}},
	{name: "enum_values", columns: []string{"guid", "enum_type", "en", "cs", "is_system", "rank"}},
	{name: "additional_fields", columns: []string{"folder", "field_id", "name", "type", "rank", "comment"}, optional: true},
	{name: "partnerships", columns: []string{"id", "user_guid", "kind", "remote", "mode", "filter", "policy", "state", "cursor_crm", "cursor_remote", "synced"},
		bools: []string{"synced"}},
	{name: "sync_pairs", columns: []string{"partnership", "crm_id", "remote_id", "crm_version", "remote_version", "base"}},
	{name: "sync_pair_emails", columns: []string{"partnership", "email", "crm_id"}},
	{name: "sync_pending", columns: []string{"partnership", "side", "crm_guid", "kind", "source_id", "base"}},
	{name: "sync_duplicates", columns: []string{"partnership", "remote_id", "crm_id", "email", "name", "found"}, times: []string{"found"}},
	{name: "sync_runs", columns: []string{"id", "partnership", "started", "finished", "dry_run", "outcome", "message", "report"},
		bools: []string{"dry_run"}, times: []string{"started", "finished"}},
	{name: "carddav_names", columns: []string{"user_guid", "item_guid", "name"}, optional: true},
	{name: "carddav_cards", columns: []string{"item_guid", "tag", "card"}, optional: true},
}

// ImportCount is how many rows of one table the import copied, counted
// again on both sides after the copy.
type ImportCount struct {
	Table string
	Rows  int64
}

// Import copies a whole SQLite crmsync database into db, which must hold
// no CRM yet (no users, items or partnerships): a second import is refused
// and never doubles data. Everything is copied in one transaction under
// the CRM write lock, then the row count of every table is compared on
// both sides; any difference rolls the copy back.
func (db *DB) Import(ctx context.Context, src SQLSource) ([]ImportCount, error) {
	var counts []ImportCount
	err := src.View(ctx, func(from *sql.Tx) error {
		return db.Update(ctx, func(to pgx.Tx) error {
			if _, err := to.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", db.writeLock); err != nil {
				return fmt.Errorf("taking the CRM write lock: %w", err)
			}
			var users, items, partnerships int64
			if err := to.QueryRow(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM items), (SELECT count(*) FROM partnerships)`).
				Scan(&users, &items, &partnerships); err != nil {
				return err
			}
			if users+items+partnerships > 0 {
				return fmt.Errorf("the PostgreSQL database already holds a CRM (%d users, %d items, %d partnerships): "+
					"migrate copies into an empty one only, so that running it twice never doubles data", users, items, partnerships)
			}
			// The seeded enum values are replaced by the source's, which
			// hold the same seed plus the values users added.
			if _, err := to.Exec(ctx, "DELETE FROM enum_values"); err != nil {
				return err
			}
			for _, t := range importTables {
				n, err := copyTable(ctx, from, to, t)
				if err != nil {
					return fmt.Errorf("copying %s: %w", t.name, err)
				}
				if n < 0 {
					continue // an optional table the source never created
				}
				var got int64
				if err := to.QueryRow(ctx, "SELECT count(*) FROM "+t.name).Scan(&got); err != nil {
					return err
				}
				if got != n {
					return fmt.Errorf("copying %s: %d rows in SQLite, %d in PostgreSQL after the copy", t.name, n, got)
				}
				counts = append(counts, ImportCount{Table: t.name, Rows: n})
			}
			// Later inserts must not reuse the copied ids.
			for _, seq := range []struct{ table, column string }{{"items", "id"}, {"partnerships", "id"}, {"sync_runs", "id"}} {
				if _, err := to.Exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', '%s'), coalesce((SELECT max(%s) FROM %s), 0) + 1, false)`,
					seq.table, seq.column, seq.column, seq.table)); err != nil {
					return fmt.Errorf("moving the id sequence of %s: %w", seq.table, err)
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

// copyTable streams one table from SQLite into PostgreSQL (COPY) and
// returns the number of rows SQLite holds, -1 for an optional table it
// lacks.
func copyTable(ctx context.Context, from *sql.Tx, to pgx.Tx, t importTable) (int64, error) {
	var n int64
	if err := from.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", t.name).Scan(&n); err != nil {
		return 0, err
	}
	if n == 0 {
		if t.optional {
			return -1, nil
		}
		return 0, fmt.Errorf("the SQLite database has no table %s (not a crmsync database?)", t.name)
	}
	if err := from.QueryRowContext(ctx, "SELECT count(*) FROM "+t.name).Scan(&n); err != nil {
		return 0, err
	}
	rows, err := from.QueryContext(ctx, "SELECT "+strings.Join(t.columns, ", ")+" FROM "+t.name)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	kind := make([]byte, len(t.columns))
	for i, c := range t.columns {
		for _, b := range t.bools {
			if c == b {
				kind[i] = 'b'
			}
		}
		for _, tm := range t.times {
			if c == tm {
				kind[i] = 't'
			}
		}
	}
	src := &sqlRows{rows: rows, kind: kind, values: make([]any, len(t.columns))}
	if _, err := to.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, src); err != nil {
		return 0, err
	}
	return n, src.err
}

// sqlRows feeds database/sql rows to COPY, converting SQLite's 0/1 and
// RFC 3339 text to booleans and timestamps.
type sqlRows struct {
	rows   *sql.Rows
	kind   []byte
	values []any
	err    error
}

func (r *sqlRows) Next() bool {
	if !r.rows.Next() {
		r.err = r.rows.Err()
		return false
	}
	return true
}

func (r *sqlRows) Values() ([]any, error) {
	raw := make([]any, len(r.values))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := r.rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	for i, v := range raw {
		switch r.kind[i] {
		case 'b':
			n, ok := v.(int64)
			if !ok {
				return nil, fmt.Errorf("column %d holds %T, want 0 or 1", i, v)
			}
			raw[i] = n != 0
		case 't':
			s, _ := v.(string)
			tm, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, fmt.Errorf("column %d: %w", i, err)
			}
			raw[i] = tm
		}
	}
	return raw, nil
}

func (r *sqlRows) Err() error { return r.err }
