package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Lease is a node's right to run one partnership, with the fencing token
// its state commits carry.
type Lease struct {
	Partnership int64
	Node        string
	Token       int64
}

// ErrLeaseLost is the error of a state write by a node that no longer
// holds the partnership's lease (it expired, or another node took it).
var ErrLeaseLost = errors.New("this node no longer holds the partnership's lease")

// AcquireLease takes or renews the lease of a partnership for node for
// ttl. It succeeds when the lease is free, expired, or already node's; the
// token stays the same on a renewal and grows by one when the holder
// changes. ok is false while another node holds it.
func (s *SyncState) AcquireLease(ctx context.Context, partnership int64, node string, ttl time.Duration) (l Lease, ok bool, err error) {
	l = Lease{Partnership: partnership, Node: node}
	err = s.db.pool.QueryRow(ctx, `INSERT INTO partnership_leases AS l (partnership, node, token, expires)
		VALUES ($1, $2, 1, now() + $3 * interval '1 microsecond')
		ON CONFLICT (partnership) DO UPDATE SET node = excluded.node, expires = excluded.expires,
			token = CASE WHEN l.node = excluded.node AND l.expires > now() THEN l.token ELSE l.token + 1 END
		WHERE l.node = excluded.node OR l.expires <= now()
		RETURNING token`, partnership, node, ttl.Microseconds()).Scan(&l.Token)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, false, nil
	}
	if err != nil {
		return l, false, fmt.Errorf("taking the lease of partnership %d: %w", partnership, err)
	}
	return l, true, nil
}

// RenewLeases extends every lease node still holds by ttl in one
// statement and returns their tokens by partnership. A lease that has
// expired is not renewed: another node may have it by now, and
// AcquireLease takes it again under a new token if not.
func (s *SyncState) RenewLeases(ctx context.Context, node string, ttl time.Duration) (map[int64]int64, error) {
	rows, err := s.db.pool.Query(ctx, `UPDATE partnership_leases SET expires = now() + $2 * interval '1 microsecond'
		WHERE node = $1 AND expires > now() RETURNING partnership, token`, node, ttl.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("renewing the leases of node %s: %w", node, err)
	}
	held := map[int64]int64{}
	var id, token int64
	_, err = pgx.ForEachRow(rows, []any{&id, &token}, func() error { held[id] = token; return nil })
	if err != nil {
		return nil, fmt.Errorf("renewing the leases of node %s: %w", node, err)
	}
	return held, nil
}

// Fenced returns the state store of one partnership run under lease l:
// every write checks, in its own transaction, that l is still held, and
// fails with ErrLeaseLost otherwise, writing nothing.
func (s *SyncState) Fenced(l Lease) *SyncState {
	return &SyncState{db: s.db, lease: &l}
}

// fencedIdleLimit is how long a fenced write's transaction may sit idle
// before the server ends its session. Its lease check locks the lease row,
// and every node's AcquireLease of that partnership waits on the lock: a
// node paused (SIGSTOP, a frozen VM) in mid-write would otherwise stall
// the other nodes' take-overs, and the passes that make them, until it
// resumed. A write's own gaps are client round trips, far shorter.
const fencedIdleLimit = time.Second

// write runs fn in a transaction that, on a fenced store, first checks the
// lease. The check locks the lease row (FOR SHARE), so a take-over waits
// for this commit and a commit never lands after a take-over; a writer
// stalled in the transaction loses it after fencedIdleLimit.
func (s *SyncState) write(ctx context.Context, partnership int64, fn func(pgx.Tx) error) error {
	return s.db.Update(ctx, func(tx pgx.Tx) error {
		if s.lease != nil {
			if partnership != s.lease.Partnership {
				return fmt.Errorf("%w: the lease is of partnership %d, not %d", ErrLeaseLost, s.lease.Partnership, partnership)
			}
			// The idle limit, the check and its record (migration 0104) go in
			// one round trip; the record is rolled back with a refused write.
			b := &pgx.Batch{}
			b.Queue(fmt.Sprintf(`SET LOCAL idle_in_transaction_session_timeout = %d`, fencedIdleLimit.Milliseconds()))
			var held bool
			b.Queue(`SELECT EXISTS (SELECT 1 FROM partnership_leases WHERE partnership = $1 AND node = $2 AND token = $3 AND expires > now() FOR SHARE)`,
				partnership, s.lease.Node, s.lease.Token).QueryRow(func(row pgx.Row) error { return row.Scan(&held) })
			queueStaleWriteRecord(b, partnership, s.lease.Token)
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
			if !held {
				s.rejected.Add(1)
				return fmt.Errorf("%w (partnership %d, token %d)", ErrLeaseLost, partnership, s.lease.Token)
			}
		}
		return fn(tx)
	})
}

// Rejected counts the writes this store refused for a lost lease.
func (s *SyncState) Rejected() int64 { return s.rejected.Load() }

// queueStaleWriteRecord queues the record of a fenced state write under
// token: it counts the write as stale when a newer lease of the
// partnership was taken before it (migration 0104). It is kept apart from
// the lease check so that a check that let a stale write through would
// still be counted.
func queueStaleWriteRecord(b *pgx.Batch, partnership, token int64) {
	b.Queue(`UPDATE partnerships SET stale_writes = stale_writes + (state_token > $2)::int, state_token = GREATEST(state_token, $2) WHERE id = $1`,
		partnership, token)
}

// StaleWrites counts the state writes accepted, over all partnerships,
// under a lease token older than one already taken by another holder:
// fencing keeps it at zero, and the multi-node test checks that it did.
func (s *SyncState) StaleWrites(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.pool.QueryRow(ctx, `SELECT coalesce(sum(stale_writes), 0) FROM partnerships`).Scan(&n)
	return n, err
}
