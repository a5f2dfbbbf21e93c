package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/schema"
	"github.com/crmsync/crmsync/service"
)

// tx implements service.Tx on one *sql.Tx, preparing each statement once
// per transaction so that a batch reuses it.
type tx struct {
	ctx   context.Context
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

var _ service.Tx = (*tx)(nil)

func newTx(ctx context.Context, t *sql.Tx) *tx {
	return &tx{ctx: ctx, tx: t, stmts: map[string]*sql.Stmt{}}
}

func (t *tx) close() {
	for _, s := range t.stmts {
		s.Close()
	}
}

func (t *tx) stmt(query string) (*sql.Stmt, error) {
	if s, ok := t.stmts[query]; ok {
		return s, nil
	}
	s, err := t.tx.PrepareContext(t.ctx, query)
	if err != nil {
		return nil, fmt.Errorf("preparing %q: %w", query, err)
	}
	t.stmts[query] = s
	return s, nil
}

func (t *tx) exec(query string, args ...any) error {
	s, err := t.stmt(query)
	if err != nil {
		return err
	}
	_, err = s.ExecContext(t.ctx, args...)
	return err
}

func (t *tx) query(query string, args ...any) (*sql.Rows, error) {
	s, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(t.ctx, args...)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

const itemColumns = "folder, guid, version, trashed, fields"

func scanItem(rows *sql.Rows) (*crmsync.Item, error) {
	var (
		it      crmsync.Item
		folder  string
		trashed int
		fields  sql.RawBytes
	)
	if err := rows.Scan(&folder, &it.GUID, &it.Version, &trashed, &fields); err != nil {
		return nil, err
	}
	it.Folder = crmsync.Folder(folder)
	it.Trashed = trashed != 0
	var err error
	if it.Fields, err = schema.DecodeFields(fields); err != nil {
		return nil, fmt.Errorf("decoding fields of %s: %w", it.GUID, err)
	}
	return &it, nil
}

func collectItems(rows *sql.Rows, err error) ([]*crmsync.Item, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var items []*crmsync.Item
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, rows.Err()
}

func (t *tx) Item(folder crmsync.Folder, guid string) (*crmsync.Item, error) {
	items, err := collectItems(t.query("SELECT "+itemColumns+" FROM items WHERE folder = ? AND guid = ?", string(folder), guid))
	if err != nil || len(items) == 0 {
		return nil, err
	}
	return items[0], nil
}

// inChunk bounds the number of parameters of one IN (...) query.
const inChunk = 500

func (t *tx) ItemsByGUID(folder crmsync.Folder, guids []string) ([]*crmsync.Item, error) {
	var all []*crmsync.Item
	for start := 0; start < len(guids); start += inChunk {
		chunk := guids[start:min(start+inChunk, len(guids))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, string(folder))
		for _, g := range chunk {
			args = append(args, g)
		}
		q := "SELECT " + itemColumns + " FROM items WHERE folder = ? AND guid IN (" +
			strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",") + ")"
		items, err := collectItems(t.tx.QueryContext(t.ctx, q, args...))
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
	}
	return all, nil
}

func (t *tx) ListItems(folder crmsync.Folder, trashed bool) ([]*crmsync.Item, error) {
	return collectItems(t.query("SELECT "+itemColumns+" FROM items WHERE folder = ? AND trashed = ? ORDER BY guid", string(folder), b2i(trashed)))
}

func (t *tx) ListIdentifiers(folder crmsync.Folder) ([]service.IdentifiedItem, error) {
	// A sequential scan of the table (+folder keeps SQLite off the unique
	// index) costs far less than walking the index in GUID order, which
	// looks every row up in the table.
	rows, err := t.query("SELECT guid, version, owner, private, company_guid, contact_guid FROM items WHERE +folder = ? AND trashed = 0", string(folder))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []service.IdentifiedItem
	for rows.Next() {
		var (
			id      service.IdentifiedItem
			private int
		)
		if err := rows.Scan(&id.GUID, &id.Version, &id.Owner, &private, &id.CompanyGUID, &id.ContactGUID); err != nil {
			return nil, err
		}
		id.Private = private != 0
		out = append(out, id)
	}
	return out, rows.Err()
}

func (t *tx) PutItem(it *crmsync.Item) error {
	fields := schema.EncodeFields(it.Fields)
	email, name := "", ""
	switch it.Folder {
	case crmsync.Contacts:
		email = fold(it.Get(crmsync.FieldEmail1))
	case crmsync.Companies:
		name = fold(it.Get(crmsync.FieldCompanyName))
	}
	err := t.exec(`INSERT INTO items (folder, guid, version, trashed, owner, private, company_guid, contact_guid, email1_lower, name_lower, sort_key, search_text, fields)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (folder, guid) DO UPDATE SET version = excluded.version, trashed = excluded.trashed,
			owner = excluded.owner, private = excluded.private, company_guid = excluded.company_guid,
			contact_guid = excluded.contact_guid, email1_lower = excluded.email1_lower,
			name_lower = excluded.name_lower, sort_key = excluded.sort_key, search_text = excluded.search_text,
			fields = excluded.fields`,
		string(it.Folder), it.GUID, it.Version, b2i(it.Trashed), it.Owner(), b2i(it.Private()),
		fold(it.Get(crmsync.FieldCompanyGUID)), fold(it.Get(crmsync.FieldContactGUID)), email, name,
		crmsync.SortKey(it), crmsync.SearchText(it), fields)
	if err != nil {
		return fmt.Errorf("writing item %s: %w", it.GUID, err)
	}
	return nil
}

// fold is the form of indexed lookup columns: trimmed, lower case.
func fold(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// indexedColumns maps the fields FindItems can look up to their column.
var indexedColumns = map[crmsync.Folder]map[string]string{
	crmsync.Contacts:  {crmsync.FieldEmail1: "email1_lower", crmsync.FieldCompanyGUID: "company_guid"},
	crmsync.Companies: {crmsync.FieldCompanyName: "name_lower"},
	crmsync.Journal:   {crmsync.FieldContactGUID: "contact_guid", crmsync.FieldCompanyGUID: "company_guid"},
}

func (t *tx) FindItems(folder crmsync.Folder, field, value string) ([]*crmsync.Item, bool, error) {
	col, ok := indexedColumns[folder][field]
	if !ok {
		return nil, false, nil
	}
	items, err := collectItems(t.query("SELECT "+itemColumns+" FROM items WHERE "+col+" = ? AND folder = ? AND trashed = 0", fold(value), string(folder)))
	return items, true, err
}

func (t *tx) ContactsByEmail1(email string) ([]string, error) {
	return t.strings("SELECT guid FROM items WHERE email1_lower = ? AND folder = ? AND trashed = 0", email, string(crmsync.Contacts))
}

func (t *tx) strings(query string, args ...any) ([]string, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (t *tx) AppendChange(c crmsync.Change, snap service.Snapshot) (int64, error) {
	s, err := t.stmt(`INSERT INTO changes (item_id, folder, guid, version, removed, at, owner, private, company_guid, contact_guid)
		VALUES ((SELECT id FROM items WHERE folder = ?1 AND guid = ?2), ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)`)
	if err != nil {
		return 0, err
	}
	res, err := s.ExecContext(t.ctx, string(c.Folder), c.GUID, c.Version, b2i(c.Removed), c.At.UnixNano(),
		snap.Owner, b2i(snap.Private), snap.CompanyGUID, snap.ContactGUID)
	if err != nil {
		return 0, fmt.Errorf("appending change of %s: %w", c.GUID, err)
	}
	return res.LastInsertId()
}

func (t *tx) LastChangeID() (int64, error) {
	var id int64
	s, err := t.stmt("SELECT coalesce(max(id), 0) FROM changes")
	if err != nil {
		return 0, err
	}
	err = s.QueryRowContext(t.ctx).Scan(&id)
	return id, err
}

const changeColumns = "c.id, c.folder, c.guid, c.version, c.removed, c.at, c.owner, c.private, c.company_guid, c.contact_guid"

func scanChange(rows *sql.Rows, extra ...any) (service.LoggedChange, error) {
	var (
		c                service.LoggedChange
		folder           string
		removed, private int
		at               int64
	)
	dest := append([]any{&c.ID, &folder, &c.GUID, &c.Version, &removed, &at, &c.Owner, &private, &c.CompanyGUID, &c.ContactGUID}, extra...)
	err := rows.Scan(dest...)
	c.Folder = crmsync.Folder(folder)
	c.Removed = removed != 0
	c.Private = private != 0
	c.At = time.Unix(0, at).UTC()
	return c, err
}

func (t *tx) Changes(folders []crmsync.Folder, base, target int64) ([]service.LoggedChange, error) {
	if len(folders) == 0 {
		return nil, nil
	}
	args := []any{base, target}
	for _, f := range folders {
		args = append(args, string(f))
	}
	q := "SELECT " + changeColumns + ", i.version, i.trashed, i.fields FROM changes c LEFT JOIN items i ON i.id = c.item_id" +
		" WHERE c.id > ? AND c.id <= ? AND c.folder IN (" +
		strings.TrimSuffix(strings.Repeat("?,", len(folders)), ",") + ") ORDER BY c.id"
	rows, err := t.tx.QueryContext(t.ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing changes: %w", err)
	}
	defer rows.Close()
	type pending struct {
		at      int // index in out of the item's last change so far
		version int
		trashed bool
		fields  []byte
	}
	type key struct {
		folder crmsync.Folder
		guid   string
	}
	out := make([]service.LoggedChange, 0, max(0, min(target-base, 4096)))
	last := make(map[key]*pending, max(0, min(target-base, 4096)))
	for rows.Next() {
		var (
			version, trashed sql.NullInt64
			fields           sql.RawBytes
		)
		c, err := scanChange(rows, &version, &trashed, &fields)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		if !version.Valid {
			continue
		}
		k := key{c.Folder, c.GUID}
		p := last[k]
		if p == nil {
			p = &pending{}
			last[k] = p
		}
		// Copy: RawBytes is only valid until the next row. Decoding waits
		// until the item's last change is known, so each item decodes once.
		*p = pending{at: len(out) - 1, version: int(version.Int64), trashed: trashed.Int64 != 0, fields: append(p.fields[:0], fields...)}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, p := range last {
		c := &out[p.at]
		f, err := schema.DecodeFields(p.fields)
		if err != nil {
			return nil, fmt.Errorf("decoding fields of %s: %w", c.GUID, err)
		}
		c.Item = &crmsync.Item{Folder: c.Folder, GUID: c.GUID, Version: p.version, Trashed: p.trashed, Fields: f}
	}
	return out, nil
}

func (t *tx) ChangesBefore(folder crmsync.Folder, guids []string, id int64) ([]service.LoggedChange, error) {
	if len(guids) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(guids)
	if err != nil {
		return nil, err
	}
	// Two index seeks per GUID (its row id, then the max over (item_id,
	// id)), all inside SQLite; CROSS JOIN keeps the GUID list the outer loop.
	rows, err := t.query(`SELECT `+changeColumns+` FROM changes c WHERE c.id IN (
		SELECT (SELECT max(id) FROM changes WHERE item_id = i.id AND id <= ?1)
		FROM json_each(?2) g CROSS JOIN items i ON i.folder = ?3 AND i.guid = g.value)`,
		id, string(list), string(folder))
	if err != nil {
		return nil, fmt.Errorf("reading changes before %d: %w", id, err)
	}
	defer rows.Close()
	var out []service.LoggedChange
	for rows.Next() {
		c, err := scanChange(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

const userColumns = "guid, name, full_name, password_hash, is_admin, disabled"

func (t *tx) users(query string, args ...any) ([]*service.UserRecord, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, err
	}
	var out []*service.UserRecord
	for rows.Next() {
		var u service.UserRecord
		var admin, disabled int
		if err := rows.Scan(&u.GUID, &u.Name, &u.FullName, &u.PasswordHash, &admin, &disabled); err != nil {
			rows.Close()
			return nil, err
		}
		u.IsAdmin, u.Disabled = admin != 0, disabled != 0
		out = append(out, &u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, u := range out {
		if u.Groups, err = t.MemberOf(u.GUID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *tx) PutUser(u *service.UserRecord) error {
	err := t.exec(`INSERT INTO users (guid, name, full_name, password_hash, is_admin, disabled) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (guid) DO UPDATE SET name = excluded.name, full_name = excluded.full_name,
			password_hash = excluded.password_hash, is_admin = excluded.is_admin, disabled = excluded.disabled`,
		u.GUID, u.Name, u.FullName, u.PasswordHash, b2i(u.IsAdmin), b2i(u.Disabled))
	if err != nil {
		return fmt.Errorf("writing user %s: %w", u.Name, err)
	}
	return nil
}

func (t *tx) UserByName(name string) (*service.UserRecord, error) {
	us, err := t.users("SELECT "+userColumns+" FROM users WHERE name = ?", name)
	if err != nil || len(us) == 0 {
		return nil, err
	}
	return us[0], nil
}

func (t *tx) UserByGUID(guid string) (*service.UserRecord, error) {
	us, err := t.users("SELECT "+userColumns+" FROM users WHERE guid = ?", guid)
	if err != nil || len(us) == 0 {
		return nil, err
	}
	return us[0], nil
}

func (t *tx) Users() ([]*service.UserRecord, error) {
	return t.users("SELECT " + userColumns + " FROM users ORDER BY name")
}

func (t *tx) PutGroup(name string, rights []crmsync.Rights) error {
	if err := t.exec("INSERT INTO groups (name) VALUES (?) ON CONFLICT DO NOTHING", name); err != nil {
		return fmt.Errorf("writing group %s: %w", name, err)
	}
	if err := t.exec("DELETE FROM group_rights WHERE group_name = ?", name); err != nil {
		return fmt.Errorf("clearing rights of group %s: %w", name, err)
	}
	for _, r := range rights {
		err := t.exec(`INSERT INTO group_rights (group_name, folder, view, edit, del, can_create, can_export)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (group_name, folder) DO UPDATE SET view = excluded.view, edit = excluded.edit,
				del = excluded.del, can_create = excluded.can_create, can_export = excluded.can_export`,
			name, string(r.Folder), int(r.View), int(r.Edit), int(r.Delete), b2i(r.CanCreate), b2i(r.CanExport))
		if err != nil {
			return fmt.Errorf("writing rights of group %s: %w", name, err)
		}
	}
	return nil
}

func (t *tx) Groups() (map[string][]crmsync.Rights, error) {
	names, err := t.strings("SELECT name FROM groups ORDER BY name")
	if err != nil {
		return nil, err
	}
	out := make(map[string][]crmsync.Rights, len(names))
	for _, n := range names {
		out[n] = []crmsync.Rights{}
	}
	rows, err := t.query("SELECT group_name, folder, view, edit, del, can_create, can_export FROM group_rights ORDER BY group_name, folder")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			g, f                  string
			view, edit, del, c, e int
		)
		if err := rows.Scan(&g, &f, &view, &edit, &del, &c, &e); err != nil {
			return nil, err
		}
		out[g] = append(out[g], crmsync.Rights{Folder: crmsync.Folder(f), View: crmsync.Level(view),
			Edit: crmsync.Level(edit), Delete: crmsync.Level(del), CanCreate: c != 0, CanExport: e != 0})
	}
	return out, rows.Err()
}

func (t *tx) AddMember(userGUID, group string) error {
	if err := t.exec("INSERT INTO group_members (group_name, user_guid) VALUES (?, ?) ON CONFLICT DO NOTHING", group, userGUID); err != nil {
		return fmt.Errorf("adding %s to group %s: %w", userGUID, group, err)
	}
	return nil
}

func (t *tx) RemoveMember(userGUID, group string) error {
	if err := t.exec("DELETE FROM group_members WHERE group_name = ? AND user_guid = ?", group, userGUID); err != nil {
		return fmt.Errorf("removing %s from group %s: %w", userGUID, group, err)
	}
	return nil
}

func (t *tx) MemberOf(userGUID string) ([]string, error) {
	return t.strings("SELECT group_name FROM group_members WHERE user_guid = ? ORDER BY group_name", userGUID)
}

func (t *tx) UserSettings(userGUID string) ([]crmsync.Setting, error) {
	rows, err := t.query("SELECT path, name, value FROM user_settings WHERE user_guid = ? ORDER BY path, name", userGUID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []crmsync.Setting
	for rows.Next() {
		var s crmsync.Setting
		if err := rows.Scan(&s.Path, &s.Name, &s.Value); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (t *tx) PutUserSetting(userGUID string, s crmsync.Setting) error {
	err := t.exec(`INSERT INTO user_settings (user_guid, path, name, value) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_guid, path, name) DO UPDATE SET value = excluded.value`, userGUID, s.Path, s.Name, s.Value)
	if err != nil {
		return fmt.Errorf("writing setting %s/%s: %w", s.Path, s.Name, err)
	}
	return nil
}

func (t *tx) DeleteUserSetting(userGUID, path, name string) error {
	if err := t.exec("DELETE FROM user_settings WHERE user_guid = ? AND path = ? AND name = ?", userGUID, path, name); err != nil {
		return fmt.Errorf("deleting setting %s/%s: %w", path, name, err)
	}
	return nil
}

func (t *tx) GlobalSettings() (map[string]string, error) {
	rows, err := t.query("SELECT name, value FROM global_settings")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var n, v string
		if err := rows.Scan(&n, &v); err != nil {
			return nil, err
		}
		out[n] = v
	}
	return out, rows.Err()
}

func (t *tx) PutGlobalSetting(name, value string) error {
	err := t.exec(`INSERT INTO global_settings (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	if err != nil {
		return fmt.Errorf("writing global setting %s: %w", name, err)
	}
	return nil
}

const enumColumns = "guid, enum_type, en, cs, is_system, rank"

func (t *tx) enums(query string, args ...any) ([]crmsync.EnumValue, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []crmsync.EnumValue
	for rows.Next() {
		var v crmsync.EnumValue
		var sys int
		if err := rows.Scan(&v.GUID, &v.EnumType, &v.En, &v.Cs, &sys, &v.Rank); err != nil {
			return nil, err
		}
		v.IsSystem = sys != 0
		out = append(out, v)
	}
	return out, rows.Err()
}

func (t *tx) EnumValues(enumType string) ([]crmsync.EnumValue, error) {
	if enumType == "" {
		return t.enums("SELECT " + enumColumns + " FROM enum_values ORDER BY enum_type, rank, en")
	}
	return t.enums("SELECT "+enumColumns+" FROM enum_values WHERE enum_type = ? ORDER BY rank, en", enumType)
}

func (t *tx) EnumValue(guid string) (*crmsync.EnumValue, error) {
	vs, err := t.enums("SELECT "+enumColumns+" FROM enum_values WHERE guid = ?", guid)
	if err != nil || len(vs) == 0 {
		return nil, err
	}
	return &vs[0], nil
}

func (t *tx) PutEnumValue(v crmsync.EnumValue) error {
	err := t.exec(`INSERT INTO enum_values (guid, enum_type, en, cs, is_system, rank) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (guid) DO UPDATE SET enum_type = excluded.enum_type, en = excluded.en, cs = excluded.cs,
			is_system = excluded.is_system, rank = excluded.rank`,
		v.GUID, v.EnumType, v.En, v.Cs, b2i(v.IsSystem), v.Rank)
	if err != nil {
		return fmt.Errorf("writing enum value %s: %w", v.En, err)
	}
	return nil
}

func (t *tx) AdditionalFields() ([]crmsync.AdditionalField, error) {
	rows, err := t.query("SELECT folder, field_id, name, type, rank, comment FROM additional_fields ORDER BY folder, field_id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []crmsync.AdditionalField
	for rows.Next() {
		var f crmsync.AdditionalField
		if err := rows.Scan(&f.Folder, &f.FieldID, &f.Name, &f.Type, &f.Rank, &f.Comment); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func (t *tx) PutAdditionalField(f crmsync.AdditionalField) error {
	err := t.exec(`INSERT INTO additional_fields (folder, field_id, name, type, rank, comment) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (folder, field_id) DO UPDATE SET name = excluded.name, type = excluded.type, rank = excluded.rank, comment = excluded.comment`,
		string(f.Folder), f.FieldID, f.Name, f.Type, f.Rank, f.Comment)
	if err != nil {
		return fmt.Errorf("writing additional field af_%d of %s: %w", f.FieldID, f.Folder, err)
	}
	return nil
}
