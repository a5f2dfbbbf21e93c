package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/schema"
	"github.com/crmsync/crmsync/service"
)

var _ service.ItemPager = (*tx)(nil)

// PageItems implements service.ItemPager over the items_list_* partial
// indexes, named with INDEXED BY because the planner prefers the (folder,
// guid) key otherwise; a partial index needs the folder and trashed as
// literals (the folder is one of the three valid names).
func (t *tx) PageItems(folder crmsync.Folder, trashed bool, search, afterKey, afterGUID string, limit int) ([]*crmsync.Item, error) {
	if !folder.Valid() {
		return nil, fmt.Errorf("listing unknown folder %q", folder)
	}
	from := "items INDEXED BY items_list_" + strings.ToLower(string(folder))
	if trashed {
		from = "items" // the trash is small: no index of its own
	}
	q := fmt.Sprintf("SELECT "+itemColumns+" FROM %s WHERE folder = '%s' AND trashed = %d AND (sort_key, guid) > (?, ?)", from, folder, b2i(trashed))
	args := []any{afterKey, afterGUID}
	if search != "" {
		q += " AND instr(search_text, ?) > 0"
		args = append(args, search)
	}
	q += " ORDER BY sort_key, guid LIMIT ?"
	args = append(args, limit)
	return collectItems(t.query(q, args...))
}

// fillListColumns computes sort_key and search_text of the rows written
// before migration 0005, a batch per transaction.
func (db *DB) fillListColumns(ctx context.Context) error {
	for {
		n := 0
		err := db.Update(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, "SELECT id, "+itemColumns+" FROM items WHERE search_text IS NULL LIMIT 1000")
			if err != nil {
				return err
			}
			type fill struct {
				id        int64
				key, text string
			}
			var fills []fill
			for rows.Next() {
				var id int64
				var it crmsync.Item
				var folder string
				var trashed int
				var fields sql.RawBytes
				if err := rows.Scan(&id, &folder, &it.GUID, &it.Version, &trashed, &fields); err != nil {
					rows.Close()
					return err
				}
				if it.Fields, err = schema.DecodeFields(fields); err != nil {
					rows.Close()
					return fmt.Errorf("decoding fields of %s: %w", it.GUID, err)
				}
				fills = append(fills, fill{id, crmsync.SortKey(&it), crmsync.SearchText(&it)})
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, f := range fills {
				if _, err := tx.ExecContext(ctx, "UPDATE items SET sort_key = ?, search_text = ? WHERE id = ?", f.key, f.text, f.id); err != nil {
					return err
				}
			}
			n = len(fills)
			return nil
		})
		if err != nil {
			return fmt.Errorf("filling the listing columns: %w", err)
		}
		if n == 0 {
			return nil
		}
	}
}
