package outlook

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver
)

// store writes a Mailbox through to a SQLite file: one row per contact
// (its JSON, folder, sequence and photo), one per folder, one per
// (contact, folder) the contact left, and the mailbox's counters. The
// change sequence is rebuilt from these rows on open.
type store struct {
	db *sql.DB
}

const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS folders (
	id TEXT PRIMARY KEY, display_name TEXT NOT NULL, parent_id TEXT NOT NULL, pos INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS contacts (
	id TEXT PRIMARY KEY, folder TEXT NOT NULL, seq INTEGER NOT NULL, modified INTEGER NOT NULL,
	body TEXT NOT NULL, photo BLOB, photo_type TEXT NOT NULL DEFAULT '', photo_hash TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS removals (
	id TEXT NOT NULL, folder TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (id, folder));
`

// OpenFile opens (or creates) a mailbox persisted in the SQLite file at
// path, so a sandbox survives restarts with the same ids, changeKeys and
// delta tokens. Close it when done.
func OpenFile(path string) (*Mailbox, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("opening mailbox %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating mailbox schema in %s: %w", path, err)
	}
	mb := newMailbox()
	st := &store{db: db}
	if err := st.load(mb); err != nil {
		db.Close()
		return nil, fmt.Errorf("loading mailbox %s: %w", path, err)
	}
	mb.db = st
	return mb, nil
}

func (s *store) close() error { return s.db.Close() }

func (s *store) load(mb *Mailbox) error {
	meta := map[string]string{}
	rows, err := s.db.Query(`SELECT key, value FROM meta`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return err
		}
		meta[k] = v
	}
	rows.Close()
	if meta["epoch"] == "" { // a new file
		fresh := NewMemory()
		tx, err := s.db.Begin()
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for k, v := range map[string]string{"epoch": fresh.epoch, "root": fresh.root, "seq": "0"} {
			if _, err := tx.Exec(`INSERT INTO meta(key, value) VALUES (?, ?)`, k, v); err != nil {
				return err
			}
		}
		f := fresh.folders[0]
		if _, err := tx.Exec(`INSERT INTO folders(id, display_name, parent_id, pos) VALUES (?, ?, ?, 0)`,
			f.ID, f.DisplayName, f.ParentFolderID); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		meta = map[string]string{"epoch": fresh.epoch, "root": fresh.root, "seq": "0"}
	}
	mb.epoch, mb.root = meta["epoch"], meta["root"]
	if mb.seq, err = strconv.ParseUint(meta["seq"], 10, 64); err != nil {
		return fmt.Errorf("bad sequence %q: %w", meta["seq"], err)
	}

	frows, err := s.db.Query(`SELECT id, display_name, parent_id FROM folders ORDER BY pos`)
	if err != nil {
		return err
	}
	for frows.Next() {
		f := &Folder{}
		if err := frows.Scan(&f.ID, &f.DisplayName, &f.ParentFolderID); err != nil {
			frows.Close()
			return err
		}
		mb.folders = append(mb.folders, f)
	}
	frows.Close()

	var log []logEntry
	crows, err := s.db.Query(`SELECT id, folder, seq, modified, body, photo, photo_type, photo_hash FROM contacts`)
	if err != nil {
		return err
	}
	for crows.Next() {
		var (
			it       item
			seq      uint64
			modified int64
			body     string
			id       string
		)
		if err := crows.Scan(&id, &it.folder, &seq, &modified, &body, &it.photo, &it.photoType, &it.photoHash); err != nil {
			crows.Close()
			return err
		}
		it.c = &Contact{}
		if err := json.Unmarshal([]byte(body), it.c); err != nil {
			crows.Close()
			return fmt.Errorf("contact %s: %w", id, err)
		}
		if len(it.photo) == 0 {
			it.photo = nil
		}
		it.modified = time.Unix(modified, 0).UTC()
		mb.items[id] = &it
		mb.index(&it)
		log = append(log, logEntry{seq: seq, id: id, folder: it.folder})
	}
	crows.Close()
	if err := crows.Err(); err != nil {
		return err
	}
	rrows, err := s.db.Query(`SELECT id, folder, seq FROM removals`)
	if err != nil {
		return err
	}
	for rrows.Next() {
		e := logEntry{removed: true}
		if err := rrows.Scan(&e.id, &e.folder, &e.seq); err != nil {
			rrows.Close()
			return err
		}
		log = append(log, e)
	}
	rrows.Close()
	sort.Slice(log, func(i, j int) bool { return log[i].seq < log[j].seq })
	for _, e := range log {
		mb.log = append(mb.log, e)
		mb.latest[logKey{e.id, e.folder}] = e.seq
	}
	return nil
}

func (s *store) putFolder(f *Folder, pos int) error {
	_, err := s.db.Exec(`INSERT INTO folders(id, display_name, parent_id, pos) VALUES (?, ?, ?, ?)`,
		f.ID, f.DisplayName, f.ParentFolderID, pos)
	if err != nil {
		return fmt.Errorf("saving folder: %w", err)
	}
	return nil
}

// putContact writes it at seq; left is the folder it moved out of ("" for
// none); withPhoto rewrites the photo columns, which otherwise stay.
func (s *store) putContact(it *item, seq uint64, left string, withPhoto bool) error {
	body, err := json.Marshal(it.c)
	if err != nil {
		return fmt.Errorf("encoding contact: %w", err)
	}
	tx, err := s.db.Begin()
	if err != nil {
		return fmt.Errorf("saving contact: %w", err)
	}
	defer tx.Rollback()
	_, err = tx.Exec(`INSERT INTO contacts(id, folder, seq, modified, body, photo, photo_type, photo_hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET folder = excluded.folder, seq = excluded.seq,
			modified = excluded.modified, body = excluded.body`,
		it.c.ID, it.folder, seq, it.modified.Unix(), string(body), it.photo, it.photoType, it.photoHash)
	if err == nil && withPhoto {
		_, err = tx.Exec(`UPDATE contacts SET photo = ?, photo_type = ?, photo_hash = ? WHERE id = ?`,
			it.photo, it.photoType, it.photoHash, it.c.ID)
	}
	if err == nil && left != "" {
		_, err = tx.Exec(`INSERT INTO removals(id, folder, seq) VALUES (?, ?, ?)
			ON CONFLICT(id, folder) DO UPDATE SET seq = excluded.seq`, it.c.ID, left, seq-1)
	}
	if err == nil {
		// back in a folder it once left: the removal is superseded
		_, err = tx.Exec(`DELETE FROM removals WHERE id = ? AND folder = ?`, it.c.ID, it.folder)
	}
	if err == nil {
		_, err = tx.Exec(`UPDATE meta SET value = ? WHERE key = 'seq'`, strconv.FormatUint(seq, 10))
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return fmt.Errorf("saving contact: %w", err)
	}
	return nil
}

func (s *store) deleteContact(id, folder string, seq uint64) error {
	tx, err := s.db.Begin()
	if err != nil {
		return fmt.Errorf("deleting contact: %w", err)
	}
	defer tx.Rollback()
	_, err = tx.Exec(`DELETE FROM contacts WHERE id = ?`, id)
	if err == nil {
		_, err = tx.Exec(`INSERT INTO removals(id, folder, seq) VALUES (?, ?, ?)
			ON CONFLICT(id, folder) DO UPDATE SET seq = excluded.seq`, id, folder, seq)
	}
	if err == nil {
		_, err = tx.Exec(`UPDATE meta SET value = ? WHERE key = 'seq'`, strconv.FormatUint(seq, 10))
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return fmt.Errorf("deleting contact: %w", err)
	}
	return nil
}
