package sqlite_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
)

// The queries on the hot paths must use an index, not scan the table.
func TestQueryPlans(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	for _, c := range []struct {
		query string
		args  []any
		want  string
	}{
		{"SELECT guid FROM items WHERE email1_lower = ? AND folder = ? AND trashed = 0", []any{"a@b.c", "Contacts"}, "items_email1"},
		{"SELECT c.id FROM changes c LEFT JOIN items i ON i.id = c.item_id WHERE c.id > ? AND c.id <= ? AND c.folder IN (?) ORDER BY c.id", []any{1, 2, "Contacts"}, "INTEGER PRIMARY KEY"},
		{"SELECT c.id FROM changes c WHERE c.id IN (SELECT (SELECT max(id) FROM changes WHERE guid = g.value AND id <= ?) FROM json_each(?) g) AND c.folder = ?", []any{5, `["g","h"]`, "Contacts"}, "changes_guid"},
		{"SELECT guid FROM items WHERE folder = ? AND guid IN (?, ?)", []any{"Contacts", "a", "b"}, "sqlite_autoindex_items_1"},
		{"SELECT guid FROM items WHERE contact_guid = ? AND folder = ? AND trashed = 0", []any{"g", "Journal"}, "items_contact"},
		{"SELECT guid FROM items WHERE company_guid = ? AND folder = ? AND trashed = 0", []any{"g", "Contacts"}, "items_company"},
		{"SELECT guid FROM items WHERE name_lower = ? AND folder = ? AND trashed = 0", []any{"acme", "Companies"}, "items_name"},
	} {
		var plan []string
		err := db.View(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, "EXPLAIN QUERY PLAN "+c.query, c.args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					return err
				}
				plan = append(plan, detail)
			}
			return rows.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(plan, "; ")
		if !strings.Contains(joined, c.want) {
			t.Errorf("%s\nplan %q does not use %s", c.query, joined, c.want)
		}
	}
}
