package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// changesChannel is the NOTIFY channel of CRM commits in this schema.
func (db *DB) changesChannel() string { return fmt.Sprintf("crmsync_changes_%x", uint64(db.writeLock)) }

// ListenChanges calls fn with the last change id of every CRM write
// committed by any node on this database (LISTEN/NOTIFY), until ctx ends;
// a lost connection is opened again after a second. It holds one
// connection of its own.
func (db *DB) ListenChanges(ctx context.Context, fn func(id int64)) error {
	for ctx.Err() == nil {
		err := db.listen(ctx, fn)
		if ctx.Err() != nil {
			break
		}
		_ = err // the connection dropped: listen again
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

func (db *DB) listen(ctx context.Context, fn func(int64)) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{db.changesChannel()}.Sanitize()); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "UNLISTEN *")
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if id, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
			fn(id)
		}
	}
}

// NodeLease is one lease as `crmsync nodes` shows it.
type NodeLease struct {
	Partnership int64
	Node        string
	Token       int64
	Expires     time.Time
}

// Node is a crmsync node as `crmsync nodes` shows it.
type Node struct {
	Name          string
	Started, Seen time.Time
}

// Heartbeat records that node is alive and returns how many nodes were
// seen within ttl, this one included.
func (s *SyncState) Heartbeat(ctx context.Context, node string, ttl time.Duration) (int, error) {
	var live int
	err := s.db.pool.QueryRow(ctx, `WITH beat AS (
			INSERT INTO nodes (node, seen) VALUES ($1, now()) ON CONFLICT (node) DO UPDATE SET seen = now() RETURNING node)
		SELECT 1 + count(*) FROM nodes WHERE node <> $1 AND seen > now() - $2 * interval '1 microsecond'`,
		node, ttl.Microseconds()).Scan(&live)
	return live, err
}

// ReleaseLease gives up node's lease of a partnership, so that another
// node may take it at once. The row stays, expired, so that the next
// holder's token is still one more than the last.
func (s *SyncState) ReleaseLease(ctx context.Context, partnership int64, node string) error {
	_, err := s.db.pool.Exec(ctx, `UPDATE partnership_leases SET expires = now() WHERE partnership = $1 AND node = $2`, partnership, node)
	return err
}

// Cluster lists the nodes and the leases, for status.
func (s *SyncState) Cluster(ctx context.Context) ([]Node, []NodeLease, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT node, started, seen FROM nodes ORDER BY node`)
	if err != nil {
		return nil, nil, err
	}
	nodes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Node, error) {
		var n Node
		err := r.Scan(&n.Name, &n.Started, &n.Seen)
		return n, err
	})
	if err != nil {
		return nil, nil, err
	}
	rows, err = s.db.pool.Query(ctx, `SELECT partnership, node, token, expires FROM partnership_leases ORDER BY partnership`)
	if err != nil {
		return nil, nil, err
	}
	leases, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (NodeLease, error) {
		var l NodeLease
		err := r.Scan(&l.Partnership, &l.Node, &l.Token, &l.Expires)
		return l, err
	})
	return nodes, leases, err
}
