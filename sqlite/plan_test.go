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
		want  []string // each must appear in the plan
	}{
		{"SELECT guid FROM items WHERE email1_lower = ? AND folder = ? AND trashed = 0", []any{"a@b.c", "Contacts"}, []string{"items_email1"}},
		{"SELECT c.id, i.fields FROM changes c LEFT JOIN items i ON i.id = c.item_id WHERE c.id > ? AND c.id <= ? AND c.folder IN (?) ORDER BY c.id", []any{1, 2, "Contacts"}, []string{"SEARCH c USING INTEGER PRIMARY KEY", "SEARCH i USING INTEGER PRIMARY KEY"}},
		{"SELECT c.id FROM changes c WHERE c.id IN (SELECT (SELECT max(id) FROM changes WHERE item_id = i.id AND id <= ?1) FROM json_each(?2) g CROSS JOIN items i ON i.folder = ?3 AND i.guid = g.value)", []any{5, `["g","h"]`, "Contacts"}, []string{"SCAN g", "items_1 (folder=? AND guid=?)", "changes_item (item_id=? AND id<?)"}},
		{"SELECT guid FROM items WHERE folder = ? AND guid IN (?, ?)", []any{"Contacts", "a", "b"}, []string{"sqlite_autoindex_items_1"}},
		{"SELECT guid FROM items WHERE contact_guid = ? AND folder = ? AND trashed = 0", []any{"g", "Journal"}, []string{"items_contact"}},
		{"SELECT guid FROM items WHERE company_guid = ? AND folder = ? AND trashed = 0", []any{"g", "Contacts"}, []string{"items_company"}},
		{"SELECT guid FROM items WHERE name_lower = ? AND folder = ? AND trashed = 0", []any{"acme", "Companies"}, []string{"items_name"}},
		{"SELECT guid, fields FROM items INDEXED BY items_list_contacts WHERE folder = 'Contacts' AND trashed = 0 AND (sort_key, guid) > (?, ?) AND instr(search_text, ?) > 0 ORDER BY sort_key, guid LIMIT ?", []any{"", "", "jan", 51}, []string{"SEARCH items USING INDEX items_list_contacts ((sort_key,guid)>(?,?))"}},
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
		for _, w := range c.want {
			if !strings.Contains(joined, w) {
				t.Errorf("%s\nplan %q lacks %q", c.query, joined, w)
			}
		}
	}
}
