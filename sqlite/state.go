package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/internal/schema"
)

// SyncState is the engine's state store in the CRM database (SPEC S1).
type SyncState struct{ db *DB }

var _ engine.StateStore = (*SyncState)(nil)

// SyncState returns the sync state store of db.
func (db *DB) SyncState() *SyncState { return &SyncState{db: db} }

const partnershipColumns = `id, user_guid, kind, remote, mode, filter, policy, state, cursor_crm, cursor_remote, synced`

func scanPartnership(row interface{ Scan(...any) error }) (*engine.Partnership, error) {
	var p engine.Partnership
	var policy string
	var synced int
	if err := row.Scan(&p.ID, &p.User, &p.Kind, &p.Remote, &p.Mode, &p.Filter, &policy, &p.State, &p.CursorCRM, &p.CursorRemote, &synced); err != nil {
		return nil, err
	}
	p.Policy, p.Synced = engine.Policy(policy), synced != 0
	return &p, nil
}

// Partnership returns the partnership of a user and kind.
func (s *SyncState) Partnership(ctx context.Context, user, kind string) (*engine.Partnership, error) {
	var p *engine.Partnership
	err := s.db.View(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = scanPartnership(tx.QueryRowContext(ctx, `SELECT `+partnershipColumns+` FROM partnerships WHERE user_guid = ? AND kind = ?`, user, kind))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, crmsync.Errorf(crmsync.ENOTFOUND, "no %s sync is set up for this user", kind)
	}
	return p, err
}

// Partnerships lists every partnership.
func (s *SyncState) Partnerships(ctx context.Context) ([]*engine.Partnership, error) {
	var list []*engine.Partnership
	err := s.db.View(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+partnershipColumns+` FROM partnerships ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			p, err := scanPartnership(rows)
			if err != nil {
				return err
			}
			list = append(list, p)
		}
		return rows.Err()
	})
	return list, err
}

// SavePartnership creates or updates p; a new one gets its ID.
func (s *SyncState) SavePartnership(ctx context.Context, p *engine.Partnership) error {
	return s.db.Update(ctx, func(tx *sql.Tx) error {
		if p.ID == 0 {
			res, err := tx.ExecContext(ctx, `INSERT INTO partnerships (user_guid, kind, remote, mode, filter, policy, state, cursor_crm, cursor_remote, synced)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				p.User, p.Kind, p.Remote, p.Mode, p.Filter, string(p.Policy), p.State, p.CursorCRM, p.CursorRemote, b2i(p.Synced))
			if err != nil {
				return fmt.Errorf("creating partnership: %w", err)
			}
			p.ID, err = res.LastInsertId()
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE partnerships SET remote = ?, mode = ?, filter = ?, policy = ?, state = ?, cursor_crm = ?, cursor_remote = ?, synced = ? WHERE id = ?`,
			p.Remote, p.Mode, p.Filter, string(p.Policy), p.State, p.CursorCRM, p.CursorRemote, b2i(p.Synced), p.ID)
		return err
	})
}

// DeletePartnership removes a partnership and its state.
func (s *SyncState) DeletePartnership(ctx context.Context, id int64) error {
	return s.db.Update(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`DELETE FROM sync_pair_emails WHERE partnership = ?`,
			`DELETE FROM sync_pairs WHERE partnership = ?`,
			`DELETE FROM sync_pending WHERE partnership = ?`,
			`DELETE FROM sync_duplicates WHERE partnership = ?`,
			`DELETE FROM sync_runs WHERE partnership = ?`,
			`DELETE FROM partnerships WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *SyncState) pairs(ctx context.Context, query string, args ...any) ([]engine.Pair, error) {
	var out []engine.Pair
	err := s.db.View(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p engine.Pair
			var base string
			if err := rows.Scan(&p.CRMID, &p.RemoteID, &p.CRMVersion, &p.RemoteVersion, &base); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(base), &p.Base); err != nil {
				return fmt.Errorf("sync state of contact %s is unreadable (re-pair the sync): %w", p.CRMID, err)
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	return out, err
}

const pairColumns = `crm_id, remote_id, crm_version, remote_version, base`

// inChunks runs fn on slices of ids small enough for one IN (...) list.
func inChunks(ids []string, fn func(placeholders string, args []any) error) error {
	const chunk = 500
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		if err := fn(strings.TrimSuffix(strings.Repeat("?,", len(part)), ","), args); err != nil {
			return err
		}
	}
	return nil
}

func (s *SyncState) pairsBy(ctx context.Context, column string, partnership int64, ids []string) ([]engine.Pair, error) {
	var out []engine.Pair
	err := inChunks(ids, func(ph string, args []any) error {
		got, err := s.pairs(ctx, `SELECT `+pairColumns+` FROM sync_pairs WHERE partnership = ? AND `+column+` IN (`+ph+`)`, append([]any{partnership}, args...)...)
		out = append(out, got...)
		return err
	})
	return out, err
}

// PairsByCRM loads the pairs of the given CRM ids.
func (s *SyncState) PairsByCRM(ctx context.Context, partnership int64, ids []string) ([]engine.Pair, error) {
	return s.pairsBy(ctx, "crm_id", partnership, ids)
}

// PairsByRemote loads the pairs of the given remote ids.
func (s *SyncState) PairsByRemote(ctx context.Context, partnership int64, ids []string) ([]engine.Pair, error) {
	return s.pairsBy(ctx, "remote_id", partnership, ids)
}

// AllPairs loads every pair of a partnership.
func (s *SyncState) AllPairs(ctx context.Context, partnership int64) ([]engine.Pair, error) {
	return s.pairs(ctx, `SELECT `+pairColumns+` FROM sync_pairs WHERE partnership = ?`, partnership)
}

// UnsettledPairs loads the pairs with an unknown version on either side.
func (s *SyncState) UnsettledPairs(ctx context.Context, partnership int64) ([]engine.Pair, error) {
	return s.pairs(ctx, `SELECT `+pairColumns+` FROM sync_pairs WHERE partnership = ? AND (crm_version = '' OR remote_version = '')`, partnership)
}

// PairCount counts a partnership's pairs.
func (s *SyncState) PairCount(ctx context.Context, partnership int64) (int, error) {
	var n int
	err := s.db.View(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM sync_pairs WHERE partnership = ?`, partnership).Scan(&n)
	})
	return n, err
}

// CRMIDsByEmail maps e-mail addresses to paired CRM ids.
func (s *SyncState) CRMIDsByEmail(ctx context.Context, partnership int64, emails []string) (map[string]string, error) {
	out := map[string]string{}
	err := s.db.View(ctx, func(tx *sql.Tx) error {
		return inChunks(emails, func(ph string, args []any) error {
			rows, err := tx.QueryContext(ctx, `SELECT email, crm_id FROM sync_pair_emails WHERE partnership = ? AND email IN (`+ph+`)`, append([]any{partnership}, args...)...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var email, id string
				if err := rows.Scan(&email, &id); err != nil {
					return err
				}
				out[email] = id
			}
			return rows.Err()
		})
	})
	return out, err
}

// AddPending records creates before they are sent.
func (s *SyncState) AddPending(ctx context.Context, partnership int64, pending []engine.Pending) error {
	return s.db.Update(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO sync_pending (partnership, side, crm_guid, kind, source_id, base) VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, p := range pending {
			base, err := json.Marshal(p.Base)
			if err != nil {
				return err
			}
			if _, err := stmt.ExecContext(ctx, partnership, string(p.Side), p.CRMGUID, int(schema.PendingKind(p)), p.SourceID, string(base)); err != nil {
				return err
			}
		}
		return nil
	})
}

// PendingOps lists creates whose outcome is unknown.
func (s *SyncState) PendingOps(ctx context.Context, partnership int64) ([]engine.Pending, error) {
	var out []engine.Pending
	err := s.db.View(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT side, crm_guid, kind, source_id, base FROM sync_pending WHERE partnership = ?`, partnership)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p engine.Pending
			var side, base string
			var kind int
			if err := rows.Scan(&side, &p.CRMGUID, &kind, &p.SourceID, &base); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(base), &p.Base); err != nil {
				return fmt.Errorf("pending create %s is unreadable: %w", p.CRMGUID, err)
			}
			p.Side, p.Kind = engine.Side(side), engine.OpKind(kind)
			out = append(out, p)
		}
		return rows.Err()
	})
	return out, err
}

// Commit applies one batch's outcome atomically.
func (s *SyncState) Commit(ctx context.Context, partnership int64, c engine.Commit) error {
	return s.db.Update(ctx, func(tx *sql.Tx) error {
		savePair, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO sync_pairs (partnership, crm_id, remote_id, crm_version, remote_version, base) VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer savePair.Close()
		dropEmails, err := tx.PrepareContext(ctx, `DELETE FROM sync_pair_emails WHERE partnership = ? AND crm_id = ?`)
		if err != nil {
			return err
		}
		defer dropEmails.Close()
		addEmail, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO sync_pair_emails (partnership, email, crm_id) VALUES (?, ?, ?)`)
		if err != nil {
			return err
		}
		defer addEmail.Close()
		for _, p := range c.Save {
			base, err := json.Marshal(p.Base)
			if err != nil {
				return err
			}
			if _, err := savePair.ExecContext(ctx, partnership, p.CRMID, p.RemoteID, p.CRMVersion, p.RemoteVersion, string(base)); err != nil {
				return fmt.Errorf("saving pair %s: %w", p.CRMID, err)
			}
			if _, err := dropEmails.ExecContext(ctx, partnership, p.CRMID); err != nil {
				return err
			}
			for _, f := range []string{crmsync.FieldEmail1, crmsync.FieldEmail2, crmsync.FieldEmail3} {
				if e := strings.ToLower(strings.TrimSpace(p.Base[f])); e != "" {
					if _, err := addEmail.ExecContext(ctx, partnership, e, p.CRMID); err != nil {
						return err
					}
				}
			}
		}
		for _, id := range c.RemoveCRM {
			if _, err := tx.ExecContext(ctx, `DELETE FROM sync_pairs WHERE partnership = ? AND crm_id = ?`, partnership, id); err != nil {
				return err
			}
			if _, err := dropEmails.ExecContext(ctx, partnership, id); err != nil {
				return err
			}
		}
		if len(c.Settled) > 0 {
			settle, err := tx.PrepareContext(ctx, `DELETE FROM sync_pending WHERE partnership = ? AND side = ? AND crm_guid = ?`)
			if err != nil {
				return err
			}
			defer settle.Close()
			for _, p := range c.Settled {
				if _, err := settle.ExecContext(ctx, partnership, string(p.Side), p.CRMGUID); err != nil {
					return err
				}
			}
		}
		for _, d := range c.Duplicates {
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO sync_duplicates (partnership, remote_id, crm_id, email, name, found) VALUES (?, ?, ?, ?, ?, ?)`,
				partnership, d.RemoteID, d.CRMID, d.Email, d.Name, d.Found.UTC().Format(time.RFC3339Nano)); err != nil {
				return err
			}
		}
		if c.Cursors != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE partnerships SET cursor_crm = ?, cursor_remote = ?, synced = synced OR ? WHERE id = ?`,
				c.Cursors.CRM, c.Cursors.Remote, b2i(c.Synced), partnership); err != nil {
				return err
			}
		}
		return nil
	})
}

// Duplicates lists the duplicates awaiting review.
func (s *SyncState) Duplicates(ctx context.Context, partnership int64) ([]engine.Duplicate, error) {
	var out []engine.Duplicate
	err := s.db.View(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT remote_id, crm_id, email, name, found FROM sync_duplicates WHERE partnership = ? ORDER BY found, remote_id`, partnership)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d engine.Duplicate
			var found string
			if err := rows.Scan(&d.RemoteID, &d.CRMID, &d.Email, &d.Name, &found); err != nil {
				return err
			}
			d.Found, _ = time.Parse(time.RFC3339Nano, found)
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, err
}

// ResolveDuplicate removes a duplicate from the review list.
func (s *SyncState) ResolveDuplicate(ctx context.Context, partnership int64, remoteID string) error {
	return s.db.Update(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sync_duplicates WHERE partnership = ? AND remote_id = ?`, partnership, remoteID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return crmsync.Errorf(crmsync.ENOTFOUND, "no duplicate %s awaits review", remoteID)
		}
		return nil
	})
}

// SaveRun appends a run to the log.
func (s *SyncState) SaveRun(ctx context.Context, r *engine.Run) error {
	report, err := schema.EncodeRunReport(r)
	if err != nil {
		return err
	}
	return s.db.Update(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO sync_runs (partnership, started, finished, dry_run, outcome, message, report) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.Partnership, r.Started.UTC().Format(time.RFC3339Nano), r.Finished.UTC().Format(time.RFC3339Nano), b2i(r.DryRun), r.Outcome, r.Message, report)
		if err != nil {
			return err
		}
		r.ID, err = res.LastInsertId()
		return err
	})
}

// Runs lists the latest runs, newest first.
func (s *SyncState) Runs(ctx context.Context, partnership int64, limit int) ([]engine.Run, error) {
	var out []engine.Run
	err := s.db.View(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, started, finished, dry_run, outcome, message, report FROM sync_runs WHERE partnership = ? ORDER BY id DESC LIMIT ?`, partnership, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r := engine.Run{Partnership: partnership}
			var started, finished, report string
			var dry int
			if err := rows.Scan(&r.ID, &started, &finished, &dry, &r.Outcome, &r.Message, &report); err != nil {
				return err
			}
			r.Started, _ = time.Parse(time.RFC3339Nano, started)
			r.Finished, _ = time.Parse(time.RFC3339Nano, finished)
			r.DryRun = dry != 0
			if err := schema.DecodeRunReport(report, &r); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, err
}
