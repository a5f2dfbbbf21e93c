package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/sqlite"
)

// Rows written before the listing columns existed (search_text NULL) are
// filled in when the database opens, so that they are found again.
func TestOpenFillsListColumns(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "crm.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	sys := crmsync.System(ctx)
	if _, err := service.New(db, service.Options{}).Save(sys, crmsync.Contacts, []crmsync.Patch{{Set: map[string]string{crmsync.FieldLastName: "Nováková", crmsync.FieldEmail1: "Eva@Example.com"}}}, crmsync.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE items SET sort_key = '', search_text = NULL")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	page, err := service.New(db, service.Options{}).List(sys, crmsync.Contacts, crmsync.ListQuery{Search: "eva@example"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].Get(crmsync.FieldLastName) != "Nováková" {
		t.Fatalf("after reopening, the search finds %v", page.Items)
	}
	var key string
	if err := db.View(ctx, func(tx *sql.Tx) error { return tx.QueryRowContext(ctx, "SELECT sort_key FROM items").Scan(&key) }); err != nil {
		t.Fatal(err)
	}
	if key != "nováková" {
		t.Errorf("sort key %q", key)
	}
}
