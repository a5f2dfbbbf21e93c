package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/schema"
	"github.com/crmsync/crmsync/sqlite"
	"github.com/google/go-cmp/cmp"
)

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"3.51.3", "3.51.3", 0},
		{"3.51.2", "3.51.3", -1},
		{"3.54.1", "3.51.3", 1},
		{"3.9.0", "3.51.3", -1},
		{"4.0", "3.51.3", 1},
		{"3.51", "3.51.3", -1},
	} {
		if got := sqlite.CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("compare(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// migrationFiles lists the embedded migration files as the source tree has them.
func migrationFiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{schema.EnumSeed.Name} // embedded from internal/schema
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

func TestMigrationsAppliedOnceInOrder(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "crm.db")
	for range 2 { // the second Open finds everything applied
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		err = db.View(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, "SELECT name FROM schema_migrations ORDER BY number")
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var n string
				if err := rows.Scan(&n); err != nil {
					return err
				}
				names = append(names, n)
			}
			return rows.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(migrationFiles(t), names); diff != "" {
			t.Errorf("applied migrations (-files +recorded):\n%s", diff)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
}

func TestPragmas(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	var mode string
	var fk, timeout int
	err := db.Update(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&timeout)
	})
	if err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || fk != 1 || timeout != 5000 {
		t.Errorf("journal_mode=%s foreign_keys=%d busy_timeout=%d", mode, fk, timeout)
	}
}

func TestUpdateRollsBackAndViewIsReadOnly(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	if err := db.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE TABLE t (v INTEGER)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := db.Update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want the callback's error", err)
	}
	var n int
	if err := db.View(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("rolled-back insert visible: %d rows", n)
	}
	err = db.View(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (2)")
		return err
	})
	if err == nil {
		t.Error("View allowed a write")
	}
}

// A reader is not blocked by a long write transaction (WAL, separate pools).
func TestReadDuringWrite(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	inWrite, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- db.Update(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO global_settings (name, value) VALUES ('x', 'uncommitted')"); err != nil {
				return err
			}
			close(inWrite)
			<-release
			return nil
		})
	}()
	<-inWrite
	var n int
	readCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	err := db.View(readCtx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(readCtx, "SELECT count(*) FROM global_settings WHERE name = 'x'").Scan(&n)
	})
	close(release)
	if err != nil {
		t.Fatalf("read during write: %v", err)
	}
	if n != 0 {
		t.Error("read saw an uncommitted write")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := sqlite.Open(ctx, ""); err == nil {
		t.Error("empty path opened")
	}
	dir := t.TempDir()
	if _, err := sqlite.Open(ctx, filepath.Join(dir, "missing", "dir", "crm.db")); err == nil {
		t.Error("path in a missing directory opened")
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database ", 500)), fs.FileMode(0o600)); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, junk); err == nil {
		t.Error("a file that is not a database opened")
	}
}

func TestFieldsRoundTrip(t *testing.T) {
	for _, m := range []map[string]string{
		{},
		{"FirstName": "Petr"},
		{"Note": "řádek 1\nřádek 2\x00binary", "a": "", "ProfilePicture": strings.Repeat("QUJD", 5000)},
	} {
		got, err := sqlite.DecodeFields(sqlite.EncodeFields(m))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for k, v := range m {
			if v != "" {
				want[k] = v
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	for _, bad := range [][]byte{nil, {5}, {1, 200}, {1, 1, 'a', 3, 'b'}, append(sqlite.EncodeFields(map[string]string{"a": "b"}), 0)} {
		if _, err := sqlite.DecodeFields(bad); err == nil {
			t.Errorf("decoded corrupt blob %v", bad)
		}
	}
}

func FuzzDecodeFields(f *testing.F) {
	f.Add(sqlite.EncodeFields(map[string]string{"FirstName": "Petr", "LastName": "Novák"}))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{2, 1, 'a', 1, 'b', 1, 'c', 0x80})
	f.Fuzz(func(t *testing.T, blob []byte) {
		m, err := sqlite.DecodeFields(blob)
		if err != nil {
			return
		}
		again, err := sqlite.DecodeFields(sqlite.EncodeFields(m))
		if err != nil {
			t.Fatalf("re-encoded blob does not decode: %v", err)
		}
		want := map[string]string{}
		for k, v := range m {
			if v != "" {
				want[k] = v
			}
		}
		if diff := cmp.Diff(want, again); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	})
}

// Characters that mean something in SQLite URI file names still name the
// file they say.
func TestOddPaths(t *testing.T) {
	for _, name := range []string{"a b.db", "x#y.db", "p%20q.db", "q?r.db", "ü.db"} {
		dir := t.TempDir()
		p := filepath.Join(dir, name)
		db, err := sqlite.Open(context.Background(), p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		db.Close()
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: database not created at its path: %v", name, err)
		}
	}
}

func TestFilesPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crm.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, p := range []string{path, path + "-wal"} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := info.Mode().Perm(); mode&0o077 != 0 {
			t.Errorf("%s has mode %v, want no access for group and others", filepath.Base(p), mode)
		}
	}
}
