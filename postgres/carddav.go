package postgres

import (
	"context"
	"fmt"

	"github.com/crmsync/crmsync/carddav"
	"github.com/jackc/pgx/v5"
)

// CardDAVStore is the CardDAV server's store (client resource names and
// last cards) in the tables of migration 0101.
type CardDAVStore struct{ db *DB }

var _ carddav.Store = (*CardDAVStore)(nil)

// CardDAVStore returns the CardDAV store of db.
func (db *DB) CardDAVStore() *CardDAVStore { return &CardDAVStore{db: db} }

// Names implements carddav.Store.
func (s *CardDAVStore) Names(ctx context.Context, user string) (map[string]string, error) {
	out := map[string]string{}
	rows, err := s.db.pool.Query(ctx, `SELECT item_guid, name FROM carddav_names WHERE user_guid = $1`, user)
	if err == nil {
		var g, n string
		_, err = pgx.ForEachRow(rows, []any{&g, &n}, func() error {
			out[g] = n
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("reading CardDAV names: %w", err)
	}
	return out, nil
}

// PutName implements carddav.Store: a name another contact held moves to
// guid.
func (s *CardDAVStore) PutName(ctx context.Context, user, guid, name string) error {
	err := s.db.Update(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM carddav_names WHERE user_guid = $1 AND name = $2 AND item_guid <> $3`, user, name, guid); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO carddav_names (user_guid, item_guid, name) VALUES ($1, $2, $3)
			ON CONFLICT (user_guid, item_guid) DO UPDATE SET name = excluded.name`, user, guid, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("saving CardDAV name: %w", err)
	}
	return nil
}

// DeleteName implements carddav.Store.
func (s *CardDAVStore) DeleteName(ctx context.Context, user, guid string) error {
	if _, err := s.db.pool.Exec(ctx, `DELETE FROM carddav_names WHERE user_guid = $1 AND item_guid = $2`, user, guid); err != nil {
		return fmt.Errorf("deleting CardDAV name: %w", err)
	}
	return nil
}

// Cards implements carddav.Store.
func (s *CardDAVStore) Cards(ctx context.Context, guids []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.byGUID(ctx, "card", guids, func(guid string, card []byte) { out[guid] = append([]byte(nil), card...) })
	if err != nil {
		return nil, fmt.Errorf("reading CardDAV cards: %w", err)
	}
	return out, nil
}

// Tags implements carddav.Store.
func (s *CardDAVStore) Tags(ctx context.Context, guids []string) (map[string]string, error) {
	out := map[string]string{}
	err := s.byGUID(ctx, "tag", guids, func(guid string, tag []byte) { out[guid] = string(tag) })
	if err != nil {
		return nil, fmt.Errorf("reading CardDAV tags: %w", err)
	}
	return out, nil
}

// byGUID calls fn with one column of the stored cards of guids; the value
// is only valid during the call.
func (s *CardDAVStore) byGUID(ctx context.Context, column string, guids []string, fn func(guid string, value []byte)) error {
	if len(guids) == 0 {
		return nil
	}
	rows, err := s.db.pool.Query(ctx, `SELECT item_guid, `+column+` FROM carddav_cards WHERE item_guid = ANY($1)`, guids)
	if err != nil {
		return err
	}
	var guid string
	var value []byte
	_, err = pgx.ForEachRow(rows, []any{&guid, &value}, func() error {
		fn(guid, value)
		return nil
	})
	return err
}

// PutCard implements carddav.Store.
func (s *CardDAVStore) PutCard(ctx context.Context, guid string, card []byte) error {
	_, err := s.db.pool.Exec(ctx, `INSERT INTO carddav_cards (item_guid, tag, card) VALUES ($1, $2, $3)
		ON CONFLICT (item_guid) DO UPDATE SET tag = excluded.tag, card = excluded.card`, guid, carddav.CardTag(card), card)
	if err != nil {
		return fmt.Errorf("saving CardDAV card: %w", err)
	}
	return nil
}
