package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/crmsync/crmsync/sqlite"
)

// TestExistingFilesMadePrivate: a database created 0644 (by an older
// version, a copy, a restore) kept its mode; opening it now takes group
// and other access away, from its WAL and shared-memory files too.
func TestExistingFilesMadePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crm.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	files := []string{path, path + "-wal", path + "-shm"}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	// A left-over WAL (empty, as SQLite leaves it after a checkpoint).
	if err := os.WriteFile(path+"-wal", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err = sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, p := range files {
		info, err := os.Stat(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if m := info.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", filepath.Base(p), m)
		}
	}
}

// TestSynchronousFull: every connection syncs the WAL at each commit, so
// a commit the API acknowledged survives a power loss.
func TestSynchronousFull(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "crm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w, r, err := sqlite.Synchronous(db)
	if err != nil {
		t.Fatal(err)
	}
	if w != 2 || r != 2 {
		t.Errorf("synchronous = %d (write), %d (read), want 2 (FULL)", w, r)
	}
}
