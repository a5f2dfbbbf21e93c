package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/crmsync/crmsync/service"
)

// minVersion is the oldest SQLite library Open accepts: releases before
// 3.51.3 can corrupt a database when a WAL reset races with a writer.
const minVersion = "3.51.3"

// DB is the crmsync store on one SQLite file: a single writer connection
// (SQLite allows one writer; serializing in Go avoids SQLITE_BUSY) and a
// pool of read-only connections that see committed snapshots in WAL mode.
type DB struct {
	write *sql.DB
	read  *sql.DB

	closeOnce sync.Once
	closeErr  error
}

var _ service.Store = (*DB)(nil)

// Open opens (creating if needed) the database at path, checks the SQLite
// version and applies pending migrations.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("opening database: empty path")
	}
	if err := makePrivate(path); err != nil {
		return nil, err
	}
	w, err := sql.Open(driverName, dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db := &DB{write: w}
	if err := db.checkVersion(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := db.fillListColumns(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open(driverName, dsn(path, false))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening database %s for reading: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db.read = r
	return db, nil
}

// makePrivate creates the database file readable by its owner only, and
// takes group and other access from an existing one and from its WAL and
// shared-memory files (SQLite gives new ones the database's mode): they
// hold password hashes and every contact.
func makePrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening database %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("opening database %s: %w", path, err)
		}
		if mode := info.Mode().Perm(); mode&0o077 != 0 {
			if err := os.Chmod(p, mode&0o700); err != nil {
				return fmt.Errorf("database file %s is open to other users (mode %04o) and cannot be made private: %w", p, mode, err)
			}
		}
	}
	return nil
}

// Close closes both pools; it is safe to call more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		var errs []error
		if db.read != nil {
			errs = append(errs, db.read.Close())
		}
		errs = append(errs, db.write.Close())
		db.closeErr = errors.Join(errs...)
	})
	return db.closeErr
}

func (db *DB) checkVersion(ctx context.Context) error {
	var v string
	if err := db.write.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&v); err != nil {
		return fmt.Errorf("reading sqlite version: %w", err)
	}
	if compareVersions(v, minVersion) < 0 {
		return fmt.Errorf("sqlite %s is too old: crmsync needs %s or newer (WAL-reset corruption bug)", v, minVersion)
	}
	return nil
}

// compareVersions compares dotted numeric versions like "3.51.3".
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Update runs fn in a write transaction, committing when fn returns nil.
// It is the raw access for packages that keep their own tables in this
// database (the sync state). Writers are serialized on one connection, so
// fn must not call Update or Write itself (it would wait forever).
func (db *DB) Update(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning write transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// View runs fn in a read-only transaction on a consistent snapshot.
func (db *DB) View(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("beginning read transaction: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

// Write runs fn in a write transaction for the service.
func (db *DB) Write(ctx context.Context, fn func(service.Tx) error) error {
	return db.Update(ctx, func(tx *sql.Tx) error {
		t := newTx(ctx, tx)
		defer t.close()
		return fn(t)
	})
}

// Read runs fn in a read transaction for the service.
func (db *DB) Read(ctx context.Context, fn func(service.Tx) error) error {
	return db.View(ctx, func(tx *sql.Tx) error {
		t := newTx(ctx, tx)
		defer t.close()
		return fn(t)
	})
}
