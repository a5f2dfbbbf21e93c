package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/internal/schema"
	"github.com/jackc/pgx/v5"
)

// SyncState is the engine's state store in the CRM database (SPEC S1).
// A store returned by Fenced checks a lease on every write.
type SyncState struct {
	db       *DB
	lease    *Lease
	rejected atomic.Int64
}

var _ engine.StateStore = (*SyncState)(nil)

// SyncState returns the sync state store of db.
func (db *DB) SyncState() *SyncState { return &SyncState{db: db} }

const partnershipColumns = `id, user_guid, kind, remote, mode, filter, policy, state, cursor_crm, cursor_remote, synced`

func scanPartnership(row pgx.Row) (*engine.Partnership, error) {
	var p engine.Partnership
	var policy string
	if err := row.Scan(&p.ID, &p.User, &p.Kind, &p.Remote, &p.Mode, &p.Filter, &policy, &p.State, &p.CursorCRM, &p.CursorRemote, &p.Synced); err != nil {
		return nil, err
	}
	p.Policy = engine.Policy(policy)
	return &p, nil
}

// Partnership returns the partnership of a user and kind.
func (s *SyncState) Partnership(ctx context.Context, user, kind string) (*engine.Partnership, error) {
	p, err := scanPartnership(s.db.pool.QueryRow(ctx, `SELECT `+partnershipColumns+` FROM partnerships WHERE user_guid = $1 AND kind = $2`, user, kind))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, crmsync.Errorf(crmsync.ENOTFOUND, "no %s sync is set up for this user", kind)
	}
	return p, err
}

// Partnerships lists every partnership.
func (s *SyncState) Partnerships(ctx context.Context) ([]*engine.Partnership, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT `+partnershipColumns+` FROM partnerships ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*engine.Partnership, error) { return scanPartnership(row) })
}

// SavePartnership creates or updates p; a new one gets its ID.
func (s *SyncState) SavePartnership(ctx context.Context, p *engine.Partnership) error {
	if p.ID == 0 {
		err := s.db.pool.QueryRow(ctx, `INSERT INTO partnerships (user_guid, kind, remote, mode, filter, policy, state, cursor_crm, cursor_remote, synced)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
			p.User, p.Kind, p.Remote, p.Mode, p.Filter, string(p.Policy), p.State, p.CursorCRM, p.CursorRemote, p.Synced).Scan(&p.ID)
		if err != nil {
			return fmt.Errorf("creating partnership: %w", err)
		}
		return nil
	}
	return s.write(ctx, p.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE partnerships SET remote = $1, mode = $2, filter = $3, policy = $4, state = $5, cursor_crm = $6, cursor_remote = $7, synced = $8 WHERE id = $9`,
			p.Remote, p.Mode, p.Filter, string(p.Policy), p.State, p.CursorCRM, p.CursorRemote, p.Synced, p.ID)
		return err
	})
}

// DeletePartnership removes a partnership and its state (the foreign keys
// cascade).
func (s *SyncState) DeletePartnership(ctx context.Context, id int64) error {
	_, err := s.db.pool.Exec(ctx, `DELETE FROM partnerships WHERE id = $1`, id)
	return err
}

const pairColumns = `crm_id, remote_id, crm_version, remote_version, base`

func (s *SyncState) pairs(ctx context.Context, query string, args ...any) ([]engine.Pair, error) {
	rows, err := s.db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (engine.Pair, error) {
		var p engine.Pair
		var base string
		if err := row.Scan(&p.CRMID, &p.RemoteID, &p.CRMVersion, &p.RemoteVersion, &base); err != nil {
			return p, err
		}
		if err := json.Unmarshal([]byte(base), &p.Base); err != nil {
			return p, fmt.Errorf("sync state of contact %s is unreadable (re-pair the sync): %w", p.CRMID, err)
		}
		return p, nil
	})
}

// PairsByCRM loads the pairs of the given CRM ids.
func (s *SyncState) PairsByCRM(ctx context.Context, partnership int64, ids []string) ([]engine.Pair, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	return s.pairs(ctx, `SELECT `+pairColumns+` FROM sync_pairs WHERE partnership = $1 AND crm_id = ANY($2)`, partnership, ids)
}

// PairsByRemote loads the pairs of the given remote ids.
func (s *SyncState) PairsByRemote(ctx context.Context, partnership int64, ids []string) ([]engine.Pair, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	return s.pairs(ctx, `SELECT `+pairColumns+` FROM sync_pairs WHERE partnership = $1 AND remote_id = ANY($2)`, partnership, ids)
}

// AllPairs loads every pair of a partnership.
func (s *SyncState) AllPairs(ctx context.Context, partnership int64) ([]engine.Pair, error) {
	return s.pairs(ctx, `SELECT `+pairColumns+` FROM sync_pairs WHERE partnership = $1`, partnership)
}

// UnsettledPairs loads the pairs with an unknown version on either side.
func (s *SyncState) UnsettledPairs(ctx context.Context, partnership int64) ([]engine.Pair, error) {
	return s.pairs(ctx, `SELECT `+pairColumns+` FROM sync_pairs WHERE partnership = $1 AND (crm_version = '' OR remote_version = '')`, partnership)
}

// PairCount counts a partnership's pairs.
func (s *SyncState) PairCount(ctx context.Context, partnership int64) (int, error) {
	var n int
	err := s.db.pool.QueryRow(ctx, `SELECT count(*) FROM sync_pairs WHERE partnership = $1`, partnership).Scan(&n)
	return n, err
}

// CRMIDsByEmail maps e-mail addresses to paired CRM ids.
func (s *SyncState) CRMIDsByEmail(ctx context.Context, partnership int64, emails []string) (map[string]string, error) {
	out := map[string]string{}
	if len(emails) == 0 {
		return out, nil
	}
	rows, err := s.db.pool.Query(ctx, `SELECT email, crm_id FROM sync_pair_emails WHERE partnership = $1 AND email = ANY($2)`, partnership, emails)
	if err != nil {
		return nil, err
	}
	var email, id string
	_, err = pgx.ForEachRow(rows, []any{&email, &id}, func() error {
		out[email] = id
		return nil
	})
	return out, err
}

// AddPending records creates before they are sent, in one round trip.
func (s *SyncState) AddPending(ctx context.Context, partnership int64, pending []engine.Pending) error {
	return s.write(ctx, partnership, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, p := range pending {
			base, err := json.Marshal(p.Base)
			if err != nil {
				return err
			}
			b.Queue(`INSERT INTO sync_pending (partnership, side, crm_guid, kind, source_id, base) VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (partnership, side, crm_guid) DO UPDATE SET kind = excluded.kind, source_id = excluded.source_id, base = excluded.base`,
				partnership, string(p.Side), p.CRMGUID, int(schema.PendingKind(p)), p.SourceID, string(base))
		}
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// PendingOps lists creates whose outcome is unknown.
func (s *SyncState) PendingOps(ctx context.Context, partnership int64) ([]engine.Pending, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT side, crm_guid, kind, source_id, base FROM sync_pending WHERE partnership = $1`, partnership)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (engine.Pending, error) {
		var p engine.Pending
		var side, base string
		var kind int
		if err := row.Scan(&side, &p.CRMGUID, &kind, &p.SourceID, &base); err != nil {
			return p, err
		}
		if err := json.Unmarshal([]byte(base), &p.Base); err != nil {
			return p, fmt.Errorf("pending create %s is unreadable: %w", p.CRMGUID, err)
		}
		p.Side, p.Kind = engine.Side(side), engine.OpKind(kind)
		return p, nil
	})
}

// Commit applies one batch's outcome atomically.
func (s *SyncState) Commit(ctx context.Context, partnership int64, c engine.Commit) error {
	return s.write(ctx, partnership, func(tx pgx.Tx) error {
		return commitState(ctx, tx, partnership, c)
	})
}

// commitState writes c in tx; the statements go in one round trip, and
// each is one statement for the whole commit, not one per pair (a first
// sync commits thousands).
func commitState(ctx context.Context, tx pgx.Tx, partnership int64, c engine.Commit) error {
	b := &pgx.Batch{}
	if len(c.Save) > 0 {
		if err := queuePairs(b, partnership, c.Save); err != nil {
			return err
		}
	}
	if len(c.RemoveCRM) > 0 {
		b.Queue(`DELETE FROM sync_pairs WHERE partnership = $1 AND crm_id = ANY($2)`, partnership, c.RemoveCRM)
		b.Queue(`DELETE FROM sync_pair_emails WHERE partnership = $1 AND crm_id = ANY($2)`, partnership, c.RemoveCRM)
	}
	if len(c.Settled) > 0 {
		sides, guids := make([]string, len(c.Settled)), make([]string, len(c.Settled))
		for i, p := range c.Settled {
			sides[i], guids[i] = string(p.Side), p.CRMGUID
		}
		b.Queue(`DELETE FROM sync_pending WHERE partnership = $1 AND (side, crm_guid) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
			partnership, sides, guids)
	}
	for _, d := range c.Duplicates {
		b.Queue(`INSERT INTO sync_duplicates (partnership, remote_id, crm_id, email, name, found) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (partnership, remote_id) DO UPDATE SET crm_id = excluded.crm_id, email = excluded.email, name = excluded.name, found = excluded.found`,
			partnership, d.RemoteID, d.CRMID, d.Email, d.Name, d.Found.UTC())
	}
	if c.Cursors != nil {
		b.Queue(`UPDATE partnerships SET cursor_crm = $1, cursor_remote = $2, synced = synced OR $3 WHERE id = $4`,
			c.Cursors.CRM, c.Cursors.Remote, c.Synced, partnership)
	}
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}

// queuePairs queues the statements that save pairs. A pair replaces any
// pair holding either of its ids, as SQLite's INSERT OR REPLACE does across
// both unique keys, and so replaces an earlier pair of the same commit: of
// the pairs saved, those no later one shares an id with are kept, and a CRM
// id's e-mail addresses are those of its last pair.
func queuePairs(b *pgx.Batch, partnership int64, save []engine.Pair) error {
	var crmIDs, remoteIDs []string // every id saved: their old pairs go
	var keep struct{ crm, remote, crmVersion, remoteVersion, base []string }
	var emailCRM, emails []string
	laterCRM, laterRemote := map[string]bool{}, map[string]bool{}
	for i := len(save) - 1; i >= 0; i-- {
		p := save[i]
		crmIDs, remoteIDs = append(crmIDs, p.CRMID), append(remoteIDs, p.RemoteID)
		if !laterCRM[p.CRMID] {
			for _, f := range []string{crmsync.FieldEmail1, crmsync.FieldEmail2, crmsync.FieldEmail3} {
				if e := strings.ToLower(strings.TrimSpace(p.Base[f])); e != "" {
					emailCRM, emails = append(emailCRM, p.CRMID), append(emails, e)
				}
			}
			if !laterRemote[p.RemoteID] {
				base, err := json.Marshal(p.Base)
				if err != nil {
					return err
				}
				keep.crm, keep.remote = append(keep.crm, p.CRMID), append(keep.remote, p.RemoteID)
				keep.crmVersion, keep.remoteVersion = append(keep.crmVersion, p.CRMVersion), append(keep.remoteVersion, p.RemoteVersion)
				keep.base = append(keep.base, string(base))
			}
		}
		laterCRM[p.CRMID], laterRemote[p.RemoteID] = true, true
	}
	b.Queue(`DELETE FROM sync_pairs WHERE partnership = $1 AND (crm_id = ANY($2) OR remote_id = ANY($3))`, partnership, crmIDs, remoteIDs)
	b.Queue(`INSERT INTO sync_pairs (partnership, crm_id, remote_id, crm_version, remote_version, base)
		SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])`,
		partnership, keep.crm, keep.remote, keep.crmVersion, keep.remoteVersion, keep.base)
	b.Queue(`DELETE FROM sync_pair_emails WHERE partnership = $1 AND crm_id = ANY($2)`, partnership, crmIDs)
	if len(emails) > 0 {
		b.Queue(`INSERT INTO sync_pair_emails (partnership, email, crm_id) SELECT $1, * FROM unnest($2::text[], $3::text[]) ON CONFLICT DO NOTHING`,
			partnership, emails, emailCRM)
	}
	return nil
}

// Duplicates lists the duplicates awaiting review.
func (s *SyncState) Duplicates(ctx context.Context, partnership int64) ([]engine.Duplicate, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT remote_id, crm_id, email, name, found FROM sync_duplicates WHERE partnership = $1 ORDER BY found, remote_id COLLATE "C"`, partnership)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (engine.Duplicate, error) {
		var d engine.Duplicate
		err := row.Scan(&d.RemoteID, &d.CRMID, &d.Email, &d.Name, &d.Found)
		d.Found = d.Found.UTC()
		return d, err
	})
}

// ResolveDuplicate removes a duplicate from the review list.
func (s *SyncState) ResolveDuplicate(ctx context.Context, partnership int64, remoteID string) error {
	tag, err := s.db.pool.Exec(ctx, `DELETE FROM sync_duplicates WHERE partnership = $1 AND remote_id = $2`, partnership, remoteID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return crmsync.Errorf(crmsync.ENOTFOUND, "no duplicate %s awaits review", remoteID)
	}
	return nil
}

// SaveRun appends a run to the log.
func (s *SyncState) SaveRun(ctx context.Context, r *engine.Run) error {
	report, err := schema.EncodeRunReport(r)
	if err != nil {
		return err
	}
	return s.write(ctx, r.Partnership, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO sync_runs (partnership, started, finished, dry_run, outcome, message, report) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			r.Partnership, r.Started.UTC(), r.Finished.UTC(), r.DryRun, r.Outcome, r.Message, report).Scan(&r.ID)
	})
}

// Runs lists the latest runs, newest first.
func (s *SyncState) Runs(ctx context.Context, partnership int64, limit int) ([]engine.Run, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT id, started, finished, dry_run, outcome, message, report FROM sync_runs WHERE partnership = $1 ORDER BY id DESC LIMIT $2`, partnership, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (engine.Run, error) {
		r := engine.Run{Partnership: partnership}
		var report string
		if err := row.Scan(&r.ID, &r.Started, &r.Finished, &r.DryRun, &r.Outcome, &r.Message, &report); err != nil {
			return r, err
		}
		r.Started, r.Finished = r.Started.UTC(), r.Finished.UTC()
		return r, schema.DecodeRunReport(report, &r)
	})
}
