package carddav

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
)

// Store keeps what the CRM schema has no place for: the resource name a
// client chose for a contact it created (so its href stays what the client
// PUT to), and the last card a client PUT (so properties the CRM does not
// map — birthday, IMPP, categories, labels — come back on GET).
type Store interface {
	// Names returns user's resource names that are not "<guid>.vcf", by GUID.
	Names(ctx context.Context, user string) (map[string]string, error)
	// PutName records user's resource name for guid.
	PutName(ctx context.Context, user, guid, name string) error
	// DeleteName forgets user's resource name for guid (a refused create).
	DeleteName(ctx context.Context, user, guid string) error
	// Cards returns the stored cards of guids (missing ones omitted).
	Cards(ctx context.Context, guids []string) (map[string][]byte, error)
	// Tags returns a short hash (CardTag) of the stored cards of guids, by
	// GUID (missing ones omitted); it is part of the ETag.
	Tags(ctx context.Context, guids []string) (map[string]string, error)
	// PutCard stores the last client card of guid.
	PutCard(ctx context.Context, guid string, card []byte) error
}

// CardTag is the short hash of a stored card that goes into its ETag; every
// Store computes it the same way.
func CardTag(card []byte) string {
	h := sha256.Sum256(card)
	return hex.EncodeToString(h[:8])
}

// MemoryStore is a Store in memory, for tests and for a server that may
// forget client hrefs and unmapped properties when it restarts.
type MemoryStore struct {
	mu    sync.Mutex
	names map[string]map[string]string
	cards map[string][]byte
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{names: map[string]map[string]string{}, cards: map[string][]byte{}}
}

var _ Store = (*MemoryStore)(nil)

// Names implements Store.
func (m *MemoryStore) Names(_ context.Context, user string) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for g, n := range m.names[user] {
		out[g] = n
	}
	return out, nil
}

// PutName implements Store.
func (m *MemoryStore) PutName(_ context.Context, user, guid, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.names[user] == nil {
		m.names[user] = map[string]string{}
	}
	m.names[user][guid] = name
	return nil
}

// DeleteName implements Store.
func (m *MemoryStore) DeleteName(_ context.Context, user, guid string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.names[user], guid)
	return nil
}

// Cards implements Store.
func (m *MemoryStore) Cards(_ context.Context, guids []string) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][]byte{}
	for _, g := range guids {
		if c, ok := m.cards[g]; ok {
			out[g] = c
		}
	}
	return out, nil
}

// Tags implements Store.
func (m *MemoryStore) Tags(_ context.Context, guids []string) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for _, g := range guids {
		if c, ok := m.cards[g]; ok {
			out[g] = CardTag(c)
		}
	}
	return out, nil
}

// PutCard implements Store.
func (m *MemoryStore) PutCard(_ context.Context, guid string, card []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cards[guid] = append([]byte(nil), card...)
	return nil
}

// SQLDB is the transaction runner of a database/sql store, as the sqlite
// adapter's DB offers it.
type SQLDB interface {
	Update(ctx context.Context, fn func(*sql.Tx) error) error
	View(ctx context.Context, fn func(*sql.Tx) error) error
}

// SQLStore is a Store in two tables of the CRM's SQLite database, created
// on first use (CREATE TABLE IF NOT EXISTS): carddav_names and
// carddav_cards.
type SQLStore struct {
	db SQLDB
}

var _ Store = (*SQLStore)(nil)

// NewSQLStore creates the store's tables if needed.
func NewSQLStore(ctx context.Context, db SQLDB) (*SQLStore, error) {
	err := db.Update(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`CREATE TABLE IF NOT EXISTS carddav_names (
				user_guid TEXT NOT NULL,
				item_guid TEXT NOT NULL,
				name      TEXT NOT NULL,
				PRIMARY KEY (user_guid, item_guid))`,
			`CREATE UNIQUE INDEX IF NOT EXISTS carddav_names_by_name ON carddav_names (user_guid, name)`,
			`CREATE TABLE IF NOT EXISTS carddav_cards (
				item_guid TEXT PRIMARY KEY,
				tag       TEXT NOT NULL,
				card      BLOB NOT NULL)`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("creating CardDAV tables: %w", err)
	}
	return &SQLStore{db: db}, nil
}

// Names implements Store.
func (s *SQLStore) Names(ctx context.Context, user string) (map[string]string, error) {
	out := map[string]string{}
	err := s.db.View(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT item_guid, name FROM carddav_names WHERE user_guid = ?`, user)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var g, n string
			if err := rows.Scan(&g, &n); err != nil {
				return err
			}
			out[g] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("reading CardDAV names: %w", err)
	}
	return out, nil
}

// PutName implements Store.
func (s *SQLStore) PutName(ctx context.Context, user, guid, name string) error {
	err := s.db.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM carddav_names WHERE user_guid = ? AND name = ? AND item_guid <> ?`, user, name, guid)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO carddav_names (user_guid, item_guid, name) VALUES (?, ?, ?)
			ON CONFLICT (user_guid, item_guid) DO UPDATE SET name = excluded.name`, user, guid, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("saving CardDAV name: %w", err)
	}
	return nil
}

// DeleteName implements Store.
func (s *SQLStore) DeleteName(ctx context.Context, user, guid string) error {
	err := s.db.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM carddav_names WHERE user_guid = ? AND item_guid = ?`, user, guid)
		return err
	})
	if err != nil {
		return fmt.Errorf("deleting CardDAV name: %w", err)
	}
	return nil
}

// Cards implements Store.
func (s *SQLStore) Cards(ctx context.Context, guids []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.byGUID(ctx, "card", guids, func(g string, v []byte) { out[g] = v })
	if err != nil {
		return nil, fmt.Errorf("reading CardDAV cards: %w", err)
	}
	return out, nil
}

// Tags implements Store.
func (s *SQLStore) Tags(ctx context.Context, guids []string) (map[string]string, error) {
	out := map[string]string{}
	err := s.byGUID(ctx, "tag", guids, func(g string, v []byte) { out[g] = string(v) })
	if err != nil {
		return nil, fmt.Errorf("reading CardDAV tags: %w", err)
	}
	return out, nil
}

// byGUID reads column (card or tag) of the stored cards of guids, 500 at a
// time.
func (s *SQLStore) byGUID(ctx context.Context, column string, guids []string, fn func(guid string, value []byte)) error {
	return s.db.View(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(guids); start += 500 {
			batch := guids[start:min(start+500, len(guids))]
			args := make([]any, len(batch))
			for i, g := range batch {
				args[i] = g
			}
			q := `SELECT item_guid, ` + column + ` FROM carddav_cards WHERE item_guid IN (?` + strings.Repeat(",?", len(batch)-1) + `)`
			rows, err := tx.QueryContext(ctx, q, args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var g string
				var v []byte
				if err := rows.Scan(&g, &v); err != nil {
					rows.Close()
					return err
				}
				fn(g, v)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
}

// PutCard implements Store.
func (s *SQLStore) PutCard(ctx context.Context, guid string, card []byte) error {
	err := s.db.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO carddav_cards (item_guid, tag, card) VALUES (?, ?, ?)
			ON CONFLICT (item_guid) DO UPDATE SET tag = excluded.tag, card = excluded.card`, guid, CardTag(card), card)
		return err
	})
	if err != nil {
		return fmt.Errorf("saving CardDAV card: %w", err)
	}
	return nil
}
