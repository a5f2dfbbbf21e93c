package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/service"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is the crmsync store on one PostgreSQL schema (the connection's
// search_path, "public" by default).
type DB struct {
	pool *pgxpool.Pool
	// writeLock is the advisory lock key of CRM writes and migrateLock that
	// of migrations, both derived from the schema's name so that two
	// deployments in one database do not wait for each other.
	writeLock, migrateLock int64
}

var _ service.Store = (*DB)(nil)

// An Option tunes how Open connects.
type Option func(*pgxpool.Config, string)

// PoolSize makes the pool at least n connections large, unless the URL
// sets pool_max_conns itself. pgx's default (the number of CPUs, at least
// 4) starves a node whose sync workers outnumber its CPUs.
func PoolSize(n int) Option {
	return func(cfg *pgxpool.Config, url string) {
		if !strings.Contains(url, "pool_max_conns") && int32(n) > cfg.MaxConns {
			cfg.MaxConns = int32(n)
		}
	}
}

// Open connects to the database at url (a postgres:// URL or key=value
// string), and applies pending migrations.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	if url == "" {
		return nil, errors.New("opening PostgreSQL: empty URL")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("opening PostgreSQL: the URL does not parse (want postgres://user@host:port/database): %w", redact(err))
	}
	for _, opt := range opts {
		opt(cfg, url)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening PostgreSQL: %w", redact(err))
	}
	db := &DB{pool: pool}
	err = pool.QueryRow(ctx, `SELECT hashtextextended('crmsync write ' || current_schema(), 0),
		hashtextextended('crmsync migrate ' || current_schema(), 0)`).Scan(&db.writeLock, &db.migrateLock)
	if err != nil {
		pool.Close()
		if ce := (*pgconn.ConnectError)(nil); errors.As(err, &ce) {
			return nil, connectError(ce)
		}
		return nil, fmt.Errorf("connecting to PostgreSQL %s: %w", cfg.ConnConfig.Host, redact(err))
	}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// connectError says a failed connection in one line naming the server,
// user and database (never the password). pgx's own error repeats the
// cause once per attempt: sslmode=prefer tries with TLS, then without.
func connectError(ce *pgconn.ConnectError) error {
	attempts := []error{ce.Unwrap()}
	if joined, ok := attempts[0].(interface{ Unwrap() []error }); ok {
		attempts = joined.Unwrap()
	}
	var causes []string
	for _, a := range attempts {
		cause := a.Error()
		var pgErr *pgconn.PgError
		var dnsErr *net.DNSError
		var netErr *net.OpError
		switch {
		case errors.As(a, &pgErr):
			cause = pgErr.Error()
		case errors.As(a, &dnsErr):
			cause = dnsErr.Error()
		case errors.As(a, &netErr):
			cause = netErr.Err.Error()
		}
		if !slices.Contains(causes, cause) {
			causes = append(causes, cause)
		}
	}
	c := ce.Config
	return fmt.Errorf("cannot connect to PostgreSQL at %s (user %s, database %s): %s",
		net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))), c.User, c.Database, strings.Join(causes, "; "))
}

// redact drops the text of a connection-string parse error: pgx hides the
// password only on a best-effort basis, and the wrapped error quotes the
// whole string.
func redact(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New("invalid connection string")
	}
	return err
}

// Close closes the pool; it is safe to call more than once.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Update runs fn in a read-committed transaction, committing when fn
// returns nil. It is the raw access for the state of sync and CardDAV,
// which do not take the CRM write lock.
func (db *DB) Update(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return fmt.Errorf("beginning write transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback(ctx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// View runs fn in a read-only transaction on one consistent snapshot.
func (db *DB) View(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("beginning read transaction: %w", err)
	}
	defer tx.Rollback(ctx)
	return fn(tx)
}

// crmWriteIdleLimit is how long a CRM write's transaction may sit idle
// between statements before the server ends it. The write lock is
// every node's: a node stopped in mid-write (SIGSTOP, a frozen VM) would
// otherwise hold up every CRM write of every node until it resumed.
// Writes send their statements back to back, so only a stalled process
// waits this long; its write fails and nothing of it is committed.
var crmWriteIdleLimit = 10 * time.Second

// Write runs fn in a CRM write transaction: it first takes the CRM write
// lock, held until the commit, so CRM writers run one at a time and every
// read in fn sees all that committed before. A write that logged changes
// notifies the other nodes.
func (db *DB) Write(ctx context.Context, fn func(service.Tx) error) error {
	return db.Update(ctx, func(tx pgx.Tx) error {
		// The idle limit and the lock go in one round trip.
		b := &pgx.Batch{}
		b.Queue(fmt.Sprintf("SET LOCAL idle_in_transaction_session_timeout = %d", crmWriteIdleLimit.Milliseconds()))
		b.Queue("SELECT pg_advisory_xact_lock($1)", db.writeLock)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("taking the CRM write lock: %w", err)
		}
		t := &crmTx{ctx: ctx, tx: tx, write: true}
		if err := fn(t); err != nil {
			return err
		}
		if err := t.flush(); err != nil {
			return err
		}
		if t.lastChange == 0 {
			return nil
		}
		// Delivered at commit to every node listening (ListenChanges).
		_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", db.changesChannel(), strconv.FormatInt(t.lastChange, 10))
		return err
	})
}

// Read runs fn in a read transaction for the service.
func (db *DB) Read(ctx context.Context, fn func(service.Tx) error) error {
	return db.View(ctx, func(tx pgx.Tx) error {
		return fn(&crmTx{ctx: ctx, tx: tx})
	})
}
