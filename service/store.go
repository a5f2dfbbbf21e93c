package service

import (
	"context"

	"github.com/crmsync/crmsync"
)

// Store is the persistence the service needs. Each Read or Write runs fn in
// one transaction; Write commits when fn returns nil and rolls back
// otherwise. The business rules (versions, rights, validation) live in the
// service, so a store is plain storage and a second implementation
// (PostgreSQL) only has to pass storetest.
type Store interface {
	Read(ctx context.Context, fn func(Tx) error) error
	Write(ctx context.Context, fn func(Tx) error) error
}

// UserRecord is a user as stored, with the password hash the domain type
// never carries.
type UserRecord struct {
	crmsync.User
	// PasswordHash is the bcrypt hash of the lower-case hex MD5 of the password.
	PasswordHash string
}

// Tx is one transaction of a Store. Lookups of things that do not exist
// return nil (or an empty list) and no error; errors are storage failures.
type Tx interface {
	// Item returns the item of folder with guid, trashed or not, or nil.
	Item(folder crmsync.Folder, guid string) (*crmsync.Item, error)
	// ItemsByGUID returns the existing items (trashed too) among guids, in
	// any order.
	ItemsByGUID(folder crmsync.Folder, guids []string) ([]*crmsync.Item, error)
	// ListItems returns every item of folder that is (trashed) or is not
	// (!trashed) in the trash, ordered by GUID.
	ListItems(folder crmsync.Folder, trashed bool) ([]*crmsync.Item, error)
	// ListIdentifiers returns GUID, version and snapshot of every item of
	// folder not in the trash, in any order, without reading fields: the
	// cheap listing a full reconcile of 100,000 items needs.
	ListIdentifiers(folder crmsync.Folder) ([]IdentifiedItem, error)
	// PutItem inserts or replaces an item with all its fields and flags.
	PutItem(it *crmsync.Item) error
	// FindItems returns the items of folder not in the trash whose field
	// equals value, compared trimmed and case-insensitively, when the store
	// can look that field up by an index; indexed is false when it cannot,
	// and the caller must scan. Stores index at least Contacts_ContactGuid,
	// Companies_CompanyGuid, Email1Address (contacts) and CompanyName
	// (companies).
	FindItems(folder crmsync.Folder, field, value string) (items []*crmsync.Item, indexed bool, err error)
	// ContactsByEmail1 returns the GUIDs of contacts not in the trash whose
	// Email1Address, trimmed and lower-cased, equals email.
	ContactsByEmail1(email string) ([]string, error)

	// AppendChange appends c to the change log and returns its id. Snapshot
	// describes the item as written, so that the feed can later tell who
	// could see it.
	AppendChange(c crmsync.Change, snap Snapshot) (int64, error)
	// LastChangeID returns the highest change id, 0 for an empty log.
	LastChangeID() (int64, error)
	// Changes returns the changes of the given folders with base < id <=
	// target, ordered by id, with their snapshots. On the last change of
	// each item in the range, Item holds the item's current state (trashed
	// or not), so that the feed needs no second query.
	Changes(folders []crmsync.Folder, base, target int64) ([]LoggedChange, error)
	// ChangesBefore returns, for each of the items of folder with the given
	// GUIDs, its last change with id <= id (none for an item without one),
	// in any order, without Item.
	ChangesBefore(folder crmsync.Folder, guids []string, id int64) ([]LoggedChange, error)

	// PutUser inserts or updates a user (matched by GUID).
	PutUser(u *UserRecord) error
	// UserByName returns a user by login name, compared case-insensitively.
	UserByName(name string) (*UserRecord, error)
	// UserByGUID returns a user by GUID.
	UserByGUID(guid string) (*UserRecord, error)
	// Users lists every user ordered by name.
	Users() ([]*UserRecord, error)

	// PutGroup creates a group or replaces its rights.
	PutGroup(name string, rights []crmsync.Rights) error
	// Groups returns every group with its rights.
	Groups() (map[string][]crmsync.Rights, error)
	// AddMember and RemoveMember change group membership; both are
	// idempotent.
	AddMember(userGUID, group string) error
	RemoveMember(userGUID, group string) error
	// MemberOf lists the groups of a user, ordered by name.
	MemberOf(userGUID string) ([]string, error)

	// UserSettings lists a user's settings ordered by path and name.
	UserSettings(userGUID string) ([]crmsync.Setting, error)
	// PutUserSetting upserts one setting of a user.
	PutUserSetting(userGUID string, s crmsync.Setting) error
	// DeleteUserSetting removes one setting of a user; removing one that
	// does not exist is no error.
	DeleteUserSetting(userGUID, path, name string) error
	// GlobalSettings returns the global settings that were set.
	GlobalSettings() (map[string]string, error)
	// PutGlobalSetting upserts a global setting.
	PutGlobalSetting(name, value string) error

	// EnumValues lists the values of enumType ("" = all), ordered by type,
	// rank and English name.
	EnumValues(enumType string) ([]crmsync.EnumValue, error)
	// EnumValue returns an enum value by GUID, or nil.
	EnumValue(guid string) (*crmsync.EnumValue, error)
	// PutEnumValue inserts or replaces an enum value.
	PutEnumValue(v crmsync.EnumValue) error

	// AdditionalFields lists the additional field definitions ordered by
	// folder and field id.
	AdditionalFields() ([]crmsync.AdditionalField, error)
	// PutAdditionalField inserts or replaces a definition (keyed by folder
	// and field id).
	PutAdditionalField(f crmsync.AdditionalField) error
}

// Snapshot records who could see an item at a change: its owner, privacy
// and the company and contact it is linked to.
type Snapshot struct {
	Owner       string
	Private     bool
	CompanyGUID string
	ContactGUID string
}

// IdentifiedItem is an item's identifier with what rights checks need.
type IdentifiedItem struct {
	crmsync.Identifier
	Snapshot
}

// LoggedChange is a change with the snapshot of its item.
type LoggedChange struct {
	crmsync.Change
	Snapshot
	// Item is the current state of the item, set by Changes on the item's
	// last change in the listed range only; nil elsewhere.
	Item *crmsync.Item
}

// SnapshotOf returns the snapshot of it.
func SnapshotOf(it *crmsync.Item) Snapshot {
	return Snapshot{
		Owner:       it.Owner(),
		Private:     it.Private(),
		CompanyGUID: it.Get(crmsync.FieldCompanyGUID),
		ContactGUID: it.Get(crmsync.FieldContactGUID),
	}
}

// PermissionsFolder is the pseudo folder of the change log entries that
// record edits of groups, memberships and administrator flags.
const PermissionsFolder crmsync.Folder = "Permissions"
