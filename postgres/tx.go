package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/schema"
	"github.com/crmsync/crmsync/service"
	"github.com/jackc/pgx/v5"
)

// crmTx implements service.Tx on one pgx transaction. pgx prepares and
// caches each statement per connection, so a batch reuses it.
type crmTx struct {
	ctx   context.Context
	tx    pgx.Tx
	write bool
	// lastChange is the last change id, read once per transaction under the
	// CRM write lock; 0 until AppendChange first needs it.
	lastChange int64
	// queued holds item and change writes not yet sent: they go to the
	// server in one round trip before the next statement or the commit,
	// not one round trip each.
	queued pgx.Batch
}

// maxQueued bounds the writes queued before they are sent.
const maxQueued = 512

// queue adds a write to the next round trip.
func (t *crmTx) queue(query string, args ...any) error {
	t.queued.Queue(query, args...)
	if t.queued.Len() >= maxQueued {
		return t.flush()
	}
	return nil
}

// flush sends the queued writes.
func (t *crmTx) flush() error {
	if t.queued.Len() == 0 {
		return nil
	}
	b := t.queued
	t.queued = pgx.Batch{}
	if err := t.tx.SendBatch(t.ctx, &b).Close(); err != nil {
		return fmt.Errorf("writing items and changes: %w", err)
	}
	return nil
}

func (t *crmTx) query(query string, args ...any) (pgx.Rows, error) {
	if err := t.flush(); err != nil {
		return nil, err
	}
	return t.tx.Query(t.ctx, query, args...)
}

func (t *crmTx) queryRow(query string, args ...any) pgx.Row {
	if err := t.flush(); err != nil {
		return errRow{err}
	}
	return t.tx.QueryRow(t.ctx, query, args...)
}

func (t *crmTx) exec(query string, args ...any) error {
	if err := t.flush(); err != nil {
		return err
	}
	_, err := t.tx.Exec(t.ctx, query, args...)
	return err
}

// errRow is a row whose Scan fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

var _ service.Tx = (*crmTx)(nil)

const itemColumns = "folder, guid, version, trashed, fields"

func scanItem(row pgx.CollectableRow) (*crmsync.Item, error) {
	var (
		it     crmsync.Item
		folder string
		fields []byte
	)
	if err := row.Scan(&folder, &it.GUID, &it.Version, &it.Trashed, &fields); err != nil {
		return nil, err
	}
	it.Folder = crmsync.Folder(folder)
	var err error
	if it.Fields, err = schema.DecodeFields(fields); err != nil {
		return nil, fmt.Errorf("decoding fields of %s: %w", it.GUID, err)
	}
	return &it, nil
}

func (t *crmTx) items(query string, args ...any) ([]*crmsync.Item, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanItem)
}

func (t *crmTx) Item(folder crmsync.Folder, guid string) (*crmsync.Item, error) {
	items, err := t.items("SELECT "+itemColumns+" FROM items WHERE folder = $1 AND guid = $2", string(folder), guid)
	if err != nil || len(items) == 0 {
		return nil, err
	}
	return items[0], nil
}

func (t *crmTx) ItemsByGUID(folder crmsync.Folder, guids []string) ([]*crmsync.Item, error) {
	if len(guids) == 0 {
		return nil, nil
	}
	return t.items("SELECT "+itemColumns+" FROM items WHERE folder = $1 AND guid = ANY($2)", string(folder), guids)
}

func (t *crmTx) ListItems(folder crmsync.Folder, trashed bool) ([]*crmsync.Item, error) {
	return t.items(`SELECT `+itemColumns+` FROM items WHERE folder = $1 AND trashed = $2 ORDER BY guid COLLATE "C"`, string(folder), trashed)
}

func (t *crmTx) ListIdentifiers(folder crmsync.Folder) ([]service.IdentifiedItem, error) {
	rows, err := t.query("SELECT guid, version, owner, private, company_guid, contact_guid FROM items WHERE folder = $1 AND NOT trashed", string(folder))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (service.IdentifiedItem, error) {
		var id service.IdentifiedItem
		err := row.Scan(&id.GUID, &id.Version, &id.Owner, &id.Private, &id.CompanyGUID, &id.ContactGUID)
		return id, err
	})
}

func (t *crmTx) PutItem(it *crmsync.Item) error {
	email, name := "", ""
	switch it.Folder {
	case crmsync.Contacts:
		email = fold(it.Get(crmsync.FieldEmail1))
	case crmsync.Companies:
		name = fold(it.Get(crmsync.FieldCompanyName))
	}
	err := t.queue(`INSERT INTO items (folder, guid, version, trashed, owner, private, company_guid, contact_guid, email1_lower, name_lower, fields)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (folder, guid) DO UPDATE SET version = excluded.version, trashed = excluded.trashed,
			owner = excluded.owner, private = excluded.private, company_guid = excluded.company_guid,
			contact_guid = excluded.contact_guid, email1_lower = excluded.email1_lower,
			name_lower = excluded.name_lower, fields = excluded.fields`,
		string(it.Folder), it.GUID, it.Version, it.Trashed, it.Owner(), it.Private(),
		fold(it.Get(crmsync.FieldCompanyGUID)), fold(it.Get(crmsync.FieldContactGUID)), email, name, schema.EncodeFields(it.Fields))
	if err != nil {
		return fmt.Errorf("writing item %s: %w", it.GUID, err)
	}
	return nil
}

// fold is the form of indexed lookup columns: trimmed, lower case (folded
// in Go, as in the SQLite store, so both agree on every letter).
func fold(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// indexedColumns maps the fields FindItems can look up to their column.
var indexedColumns = map[crmsync.Folder]map[string]string{
	crmsync.Contacts:  {crmsync.FieldEmail1: "email1_lower", crmsync.FieldCompanyGUID: "company_guid"},
	crmsync.Companies: {crmsync.FieldCompanyName: "name_lower"},
	crmsync.Journal:   {crmsync.FieldContactGUID: "contact_guid", crmsync.FieldCompanyGUID: "company_guid"},
}

func (t *crmTx) FindItems(folder crmsync.Folder, field, value string) ([]*crmsync.Item, bool, error) {
	col, ok := indexedColumns[folder][field]
	if !ok {
		return nil, false, nil
	}
	items, err := t.items("SELECT "+itemColumns+" FROM items WHERE "+col+" = $1 AND folder = $2 AND NOT trashed", fold(value), string(folder))
	return items, true, err
}

func (t *crmTx) ContactsByEmail1(email string) ([]string, error) {
	return t.strings("SELECT guid FROM items WHERE email1_lower = $1 AND folder = $2 AND NOT trashed", email, string(crmsync.Contacts))
}

func (t *crmTx) strings(query string, args ...any) ([]string, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func (t *crmTx) AppendChange(c crmsync.Change, snap service.Snapshot) (int64, error) {
	if !t.write {
		return 0, fmt.Errorf("appending change of %s in a read transaction", c.GUID)
	}
	if t.lastChange == 0 {
		var err error
		if t.lastChange, err = t.LastChangeID(); err != nil {
			return 0, err
		}
	}
	id := t.lastChange + 1
	err := t.queue(`INSERT INTO changes (id, item_id, folder, guid, version, removed, at, owner, private, company_guid, contact_guid)
		VALUES ($1, (SELECT id FROM items WHERE folder = $2 AND guid = $3), $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		id, string(c.Folder), c.GUID, c.Version, c.Removed, c.At.UnixNano(), snap.Owner, snap.Private, snap.CompanyGUID, snap.ContactGUID)
	if err != nil {
		return 0, fmt.Errorf("appending change of %s: %w", c.GUID, err)
	}
	t.lastChange = id
	return id, nil
}

func (t *crmTx) LastChangeID() (int64, error) {
	var id int64
	err := t.queryRow("SELECT coalesce(max(id), 0) FROM changes").Scan(&id)
	return id, err
}

const changeColumns = "c.id, c.folder, c.guid, c.version, c.removed, c.at, c.owner, c.private, c.company_guid, c.contact_guid"

func scanChange(row pgx.Row, extra ...any) (service.LoggedChange, error) {
	var (
		c      service.LoggedChange
		folder string
		at     int64
	)
	err := row.Scan(append([]any{&c.ID, &folder, &c.GUID, &c.Version, &c.Removed, &at, &c.Owner, &c.Private, &c.CompanyGUID, &c.ContactGUID}, extra...)...)
	c.Folder = crmsync.Folder(folder)
	c.At = time.Unix(0, at).UTC()
	return c, err
}

func (t *crmTx) Changes(folders []crmsync.Folder, base, target int64) ([]service.LoggedChange, error) {
	if len(folders) == 0 {
		return nil, nil
	}
	names := make([]string, len(folders))
	for i, f := range folders {
		names[i] = string(f)
	}
	// The item's current state comes with its last change in the range
	// only, so each item is read and decoded once.
	rows, err := t.query(`SELECT `+changeColumns+`, i.version, i.trashed,
			CASE WHEN c.id = max(c.id) OVER (PARTITION BY c.item_id) THEN i.fields END
		FROM changes c LEFT JOIN items i ON i.id = c.item_id
		WHERE c.id > $1 AND c.id <= $2 AND c.folder = ANY($3) ORDER BY c.id`, base, target, names)
	if err != nil {
		return nil, fmt.Errorf("listing changes: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (service.LoggedChange, error) {
		var (
			version *int
			trashed *bool
			fields  []byte
		)
		c, err := scanChange(row, &version, &trashed, &fields)
		if err != nil || fields == nil {
			return c, err
		}
		f, err := schema.DecodeFields(fields)
		if err != nil {
			return c, fmt.Errorf("decoding fields of %s: %w", c.GUID, err)
		}
		c.Item = &crmsync.Item{Folder: c.Folder, GUID: c.GUID, Version: *version, Trashed: *trashed, Fields: f}
		return c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing changes: %w", err)
	}
	return out, nil
}

func (t *crmTx) ChangesBefore(folder crmsync.Folder, guids []string, id int64) ([]service.LoggedChange, error) {
	if len(guids) == 0 {
		return nil, nil
	}
	rows, err := t.query(`SELECT `+changeColumns+` FROM changes c WHERE c.id IN (
		SELECT (SELECT max(id) FROM changes WHERE item_id = i.id AND id <= $1)
		FROM items i WHERE i.folder = $2 AND i.guid = ANY($3))`, id, string(folder), guids)
	if err != nil {
		return nil, fmt.Errorf("reading changes before %d: %w", id, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (service.LoggedChange, error) { return scanChange(row) })
}

const userColumns = "guid, name, full_name, password_hash, is_admin, disabled"

func (t *crmTx) users(query string, args ...any) ([]*service.UserRecord, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*service.UserRecord, error) {
		var u service.UserRecord
		err := row.Scan(&u.GUID, &u.Name, &u.FullName, &u.PasswordHash, &u.IsAdmin, &u.Disabled)
		return &u, err
	})
	if err != nil || len(out) == 0 {
		return out, err
	}
	// Every user's groups in one round trip, not one per user: serve's
	// sync pass lists all users every few seconds.
	byGUID := make(map[string]*service.UserRecord, len(out))
	guids := make([]string, len(out))
	for i, u := range out {
		byGUID[u.GUID], guids[i] = u, u.GUID
		u.Groups = []string{} // as MemberOf answers for a user in no group
	}
	rows, err = t.query(`SELECT user_guid, group_name FROM group_members WHERE user_guid = ANY($1) ORDER BY group_name COLLATE "C"`, guids)
	if err != nil {
		return nil, err
	}
	var guid, group string
	_, err = pgx.ForEachRow(rows, []any{&guid, &group}, func() error {
		u := byGUID[guid]
		u.Groups = append(u.Groups, group)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (t *crmTx) PutUser(u *service.UserRecord) error {
	err := t.exec(`INSERT INTO users (guid, name, full_name, password_hash, is_admin, disabled) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (guid) DO UPDATE SET name = excluded.name, full_name = excluded.full_name,
			password_hash = excluded.password_hash, is_admin = excluded.is_admin, disabled = excluded.disabled`,
		u.GUID, u.Name, u.FullName, u.PasswordHash, u.IsAdmin, u.Disabled)
	if err != nil {
		return fmt.Errorf("writing user %s: %w", u.Name, err)
	}
	return nil
}

func (t *crmTx) UserByName(name string) (*service.UserRecord, error) {
	us, err := t.users("SELECT "+userColumns+" FROM users WHERE lower(name) = lower($1)", name)
	if err != nil || len(us) == 0 {
		return nil, err
	}
	return us[0], nil
}

func (t *crmTx) UserByGUID(guid string) (*service.UserRecord, error) {
	us, err := t.users("SELECT "+userColumns+" FROM users WHERE guid = $1", guid)
	if err != nil || len(us) == 0 {
		return nil, err
	}
	return us[0], nil
}

func (t *crmTx) Users() ([]*service.UserRecord, error) {
	return t.users(`SELECT ` + userColumns + ` FROM users ORDER BY lower(name) COLLATE "C", name COLLATE "C"`)
}

func (t *crmTx) PutGroup(name string, rights []crmsync.Rights) error {
	if err := t.exec("INSERT INTO groups (name) VALUES ($1) ON CONFLICT DO NOTHING", name); err != nil {
		return fmt.Errorf("writing group %s: %w", name, err)
	}
	if err := t.exec("DELETE FROM group_rights WHERE group_name = $1", name); err != nil {
		return fmt.Errorf("clearing rights of group %s: %w", name, err)
	}
	for _, r := range rights {
		err := t.exec(`INSERT INTO group_rights (group_name, folder, view, edit, del, can_create, can_export)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (group_name, folder) DO UPDATE SET view = excluded.view, edit = excluded.edit,
				del = excluded.del, can_create = excluded.can_create, can_export = excluded.can_export`,
			name, string(r.Folder), int(r.View), int(r.Edit), int(r.Delete), r.CanCreate, r.CanExport)
		if err != nil {
			return fmt.Errorf("writing rights of group %s: %w", name, err)
		}
	}
	return nil
}

func (t *crmTx) Groups() (map[string][]crmsync.Rights, error) {
	names, err := t.strings("SELECT name FROM groups")
	if err != nil {
		return nil, err
	}
	out := make(map[string][]crmsync.Rights, len(names))
	for _, n := range names {
		out[n] = []crmsync.Rights{}
	}
	rows, err := t.query(`SELECT group_name, folder, view, edit, del, can_create, can_export FROM group_rights ORDER BY group_name, folder COLLATE "C"`)
	if err != nil {
		return nil, err
	}
	var (
		g, f            string
		view, edit, del int
		r               crmsync.Rights
	)
	_, err = pgx.ForEachRow(rows, []any{&g, &f, &view, &edit, &del, &r.CanCreate, &r.CanExport}, func() error {
		r.Folder, r.View, r.Edit, r.Delete = crmsync.Folder(f), crmsync.Level(view), crmsync.Level(edit), crmsync.Level(del)
		out[g] = append(out[g], r)
		return nil
	})
	return out, err
}

func (t *crmTx) AddMember(userGUID, group string) error {
	if err := t.exec("INSERT INTO group_members (group_name, user_guid) VALUES ($1, $2) ON CONFLICT DO NOTHING", group, userGUID); err != nil {
		return fmt.Errorf("adding %s to group %s: %w", userGUID, group, err)
	}
	return nil
}

func (t *crmTx) RemoveMember(userGUID, group string) error {
	if err := t.exec("DELETE FROM group_members WHERE group_name = $1 AND user_guid = $2", group, userGUID); err != nil {
		return fmt.Errorf("removing %s from group %s: %w", userGUID, group, err)
	}
	return nil
}

func (t *crmTx) MemberOf(userGUID string) ([]string, error) {
	return t.strings(`SELECT group_name FROM group_members WHERE user_guid = $1 ORDER BY group_name COLLATE "C"`, userGUID)
}

func (t *crmTx) UserSettings(userGUID string) ([]crmsync.Setting, error) {
	rows, err := t.query(`SELECT path, name, value FROM user_settings WHERE user_guid = $1 ORDER BY path COLLATE "C", name COLLATE "C"`, userGUID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (crmsync.Setting, error) {
		var s crmsync.Setting
		err := row.Scan(&s.Path, &s.Name, &s.Value)
		return s, err
	})
}

func (t *crmTx) PutUserSetting(userGUID string, s crmsync.Setting) error {
	err := t.exec(`INSERT INTO user_settings (user_guid, path, name, value) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_guid, path, name) DO UPDATE SET value = excluded.value`, userGUID, s.Path, s.Name, s.Value)
	if err != nil {
		return fmt.Errorf("writing setting %s/%s: %w", s.Path, s.Name, err)
	}
	return nil
}

func (t *crmTx) DeleteUserSetting(userGUID, path, name string) error {
	if err := t.exec("DELETE FROM user_settings WHERE user_guid = $1 AND path = $2 AND name = $3", userGUID, path, name); err != nil {
		return fmt.Errorf("deleting setting %s/%s: %w", path, name, err)
	}
	return nil
}

func (t *crmTx) GlobalSettings() (map[string]string, error) {
	rows, err := t.query("SELECT name, value FROM global_settings")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var n, v string
	_, err = pgx.ForEachRow(rows, []any{&n, &v}, func() error {
		out[n] = v
		return nil
	})
	return out, err
}

func (t *crmTx) PutGlobalSetting(name, value string) error {
	err := t.exec(`INSERT INTO global_settings (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	if err != nil {
		return fmt.Errorf("writing global setting %s: %w", name, err)
	}
	return nil
}

const enumColumns = "guid, enum_type, en, cs, is_system, rank"

func (t *crmTx) enums(query string, args ...any) ([]crmsync.EnumValue, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (crmsync.EnumValue, error) {
		var v crmsync.EnumValue
		var sys int
		err := row.Scan(&v.GUID, &v.EnumType, &v.En, &v.Cs, &sys, &v.Rank)
		v.IsSystem = sys != 0
		return v, err
	})
}

func (t *crmTx) EnumValues(enumType string) ([]crmsync.EnumValue, error) {
	if enumType == "" {
		return t.enums(`SELECT ` + enumColumns + ` FROM enum_values ORDER BY enum_type COLLATE "C", rank, en COLLATE "C"`)
	}
	return t.enums(`SELECT `+enumColumns+` FROM enum_values WHERE enum_type = $1 ORDER BY rank, en COLLATE "C"`, enumType)
}

func (t *crmTx) EnumValue(guid string) (*crmsync.EnumValue, error) {
	vs, err := t.enums("SELECT "+enumColumns+" FROM enum_values WHERE guid = $1", guid)
	if err != nil || len(vs) == 0 {
		return nil, err
	}
	return &vs[0], nil
}

func (t *crmTx) PutEnumValue(v crmsync.EnumValue) error {
	sys := 0
	if v.IsSystem {
		sys = 1
	}
	err := t.exec(`INSERT INTO enum_values (guid, enum_type, en, cs, is_system, rank) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (guid) DO UPDATE SET enum_type = excluded.enum_type, en = excluded.en, cs = excluded.cs,
			is_system = excluded.is_system, rank = excluded.rank`,
		v.GUID, v.EnumType, v.En, v.Cs, sys, v.Rank)
	if err != nil {
		return fmt.Errorf("writing enum value %s: %w", v.En, err)
	}
	return nil
}

func (t *crmTx) AdditionalFields() ([]crmsync.AdditionalField, error) {
	rows, err := t.query(`SELECT folder, field_id, name, type, rank, comment FROM additional_fields ORDER BY folder COLLATE "C", field_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []crmsync.AdditionalField
	for rows.Next() {
		var f crmsync.AdditionalField
		var folder string
		if err := rows.Scan(&folder, &f.FieldID, &f.Name, &f.Type, &f.Rank, &f.Comment); err != nil {
			return nil, err
		}
		f.Folder = crmsync.Folder(folder)
		out = append(out, f)
	}
	return out, rows.Err()
}

func (t *crmTx) PutAdditionalField(f crmsync.AdditionalField) error {
	err := t.exec(`INSERT INTO additional_fields (folder, field_id, name, type, rank, comment) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (folder, field_id) DO UPDATE SET name = excluded.name, type = excluded.type, rank = excluded.rank, comment = excluded.comment`,
		string(f.Folder), f.FieldID, f.Name, f.Type, f.Rank, f.Comment)
	if err != nil {
		return fmt.Errorf("writing additional field af_%d of %s: %w", f.FieldID, f.Folder, err)
	}
	return nil
}
