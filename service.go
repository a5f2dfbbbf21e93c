package crmsync

import "context"

// CRM is the service behind every interface: the eWay API, CardDAV and the
// sync engine's CRM replica. Each method runs in one transaction and acts as
// the user of the context (WithUser); without one it fails with
// EUNAUTHORIZED, except where System(ctx) marks a trusted caller (the CLI).
//
// Reads return only what the user may see: items outside the user's View
// level, others' private items, and journals linked to a contact or company
// the user may not see behave as if they did not exist. Writes check
// Edit/Delete levels and CanCreate and fail with EFORBIDDEN; nobody makes
// an item private to another user or links it to an item they may not see.
// Without a folder's Export right no read returns more than
// service.ExportFreeItems of its items (EFORBIDDEN): Export governs bulk
// reading (listings, the change feed, CardDAV books, sync).
type CRM interface {
	// Authenticate checks a user name and the hex MD5 of the password (as
	// eWay clients send it). EUNAUTHORIZED on any mismatch, and when too
	// many sign-ins failed from the client's address (WithClientAddr) or
	// for the user: every way in (API, CardDAV, web UI, OAuth) calls it, so
	// one limiter covers them all.
	Authenticate(ctx context.Context, name, passwordMD5 string) (*User, error)

	// Items returns the visible items of folder with the given GUIDs, or all
	// visible ones when guids is nil. Unknown or invisible GUIDs are omitted.
	Items(ctx context.Context, folder Folder, guids []string) ([]*Item, error)
	// EachItem calls fn with every visible item of folder in GUID order, as
	// Items(folder, nil) lists them, reading a few hundred at a time in
	// transactions of their own, so that memory stays bounded and no
	// transaction waits on fn (which may write to a slow client). An item
	// changed during the walk comes in its state when its batch is read;
	// one removed is left out. fn's error ends the walk and is returned.
	EachItem(ctx context.Context, folder Folder, fn func(*Item) error) error
	// Identifiers lists GUID and version of every visible item of folder.
	Identifiers(ctx context.Context, folder Folder) ([]Identifier, error)
	// Search returns visible items whose fields equal every (or, with matchAny,
	// at least one) value of example; text compares case-insensitively.
	Search(ctx context.Context, folder Folder, example map[string]string, matchAny bool) ([]*Item, error)
	// Save applies patches in one transaction with eWay's versioning rules
	// (reference/eway-crm.md §3.7). Each patch gets its own result; a patch
	// that fails writes nothing, the others are still applied. The error is
	// for failures of the whole call only.
	Save(ctx context.Context, folder Folder, patches []Patch, opts SaveOptions) ([]SaveResult, error)
	// Delete moves items to the trash, appending a removal to the change log.
	Delete(ctx context.Context, folder Folder, guids []string) error
	// Trash lists the caller's visible trashed items of folder.
	Trash(ctx context.Context, folder Folder) ([]*Item, error)
	// Restore brings an item back from the trash as a new version.
	Restore(ctx context.Context, folder Folder, guid string) error

	// LastChangeID is the highest change id (0 for an empty log).
	LastChangeID(ctx context.Context) (int64, error)
	// BaseChangeID is the lowest base id the change feed still answers.
	BaseChangeID(ctx context.Context) (int64, error)
	// ChangeIdentifiers lists changes with base < id <= target in folder
	// that the caller may see; an item changed so that the caller no longer
	// sees it is reported as Removed.
	ChangeIdentifiers(ctx context.Context, folder Folder, base, target int64) ([]Change, error)
	// ChangedItems returns, per folder, the current state of the items
	// changed in (base, target] and the GUIDs removed or no longer visible.
	ChangedItems(ctx context.Context, folders []Folder, base, target int64) ([]ChangedItems, error)
	// HaveItemsChanged reports whether ChangeIdentifiers would be non-empty.
	HaveItemsChanged(ctx context.Context, folders []Folder, base, target int64) (bool, error)
	// HavePermissionsChanged reports whether any group, membership or user
	// right changed in (base, target]: a sync must then reconcile fully.
	HavePermissionsChanged(ctx context.Context, base, target int64) (bool, error)
	// WatchChanges returns a channel that receives the last change id after
	// every committed write, dropping values a slow reader has not taken.
	// It is closed when ctx ends.
	WatchChanges(ctx context.Context) <-chan int64

	// Relations returns the links (foreign keys, see Relation) of the
	// visible items of folder with the given GUIDs to items the caller sees,
	// by item GUID.
	Relations(ctx context.Context, folder Folder, guids []string) (map[string][]Relation, error)
	// SaveRelation links two items (either may be the parent) by saving the
	// child's foreign key; typ "" means whichever link the folders have.
	// EINVALID for a link crmsync does not keep.
	SaveRelation(ctx context.Context, a Folder, aGUID string, b Folder, bGUID string, typ string) (Relation, error)
	// DeleteRelation removes the link with the given GUID.
	DeleteRelation(ctx context.Context, guid string) error
	// RelationChanges lists the links made or removed in (base, target].
	RelationChanges(ctx context.Context, base, target int64) ([]RelationChange, error)

	// MyRights returns the caller's effective rights on every folder.
	MyRights(ctx context.Context) ([]Rights, error)
	// UserSettings lists the caller's settings; SaveUserSetting upserts one.
	UserSettings(ctx context.Context) ([]Setting, error)
	SaveUserSetting(ctx context.Context, s Setting) error
	// DeleteUserSetting removes one of the caller's settings.
	DeleteUserSetting(ctx context.Context, path, name string) error
	// GlobalSettings returns every global setting with its default filled in.
	GlobalSettings(ctx context.Context) (map[string]string, error)
	// SetGlobalSetting changes a global setting; administrators only.
	SetGlobalSetting(ctx context.Context, name, value string) error
	// EnumValues lists the values of an enum type ("" = all types).
	EnumValues(ctx context.Context, enumType string) ([]EnumValue, error)
	// EnsureEnumValue returns the value of enumType whose En or Cs name
	// equals name (case-insensitive, trimmed), creating it when missing.
	EnsureEnumValue(ctx context.Context, enumType, name string) (EnumValue, error)
	// SaveEnumValue adds (no GUID) or changes an enum value; administrators only.
	SaveEnumValue(ctx context.Context, v EnumValue) (EnumValue, error)
	// AdditionalFields lists the additional field definitions (any
	// signed-in caller); SaveAdditionalField adds or replaces one
	// (administrators only).
	AdditionalFields(ctx context.Context) ([]AdditionalField, error)
	SaveAdditionalField(ctx context.Context, f AdditionalField) error
	// Directory lists every user for any signed-in caller (no secrets).
	Directory(ctx context.Context) ([]*User, error)

	// Administration: administrators or System(ctx) only.
	AddUser(ctx context.Context, name, password string, admin bool) (*User, error)
	SetPassword(ctx context.Context, name, password string) error
	// SetDisabled disables a user (no sign-in, sessions and syncs end) or
	// enables them again; the last enabled administrator stays enabled.
	SetDisabled(ctx context.Context, name string, disabled bool) error
	Users(ctx context.Context) ([]*User, error)
	// UserByName returns a user by login name (ENOTFOUND if none).
	UserByName(ctx context.Context, name string) (*User, error)
	// SaveGroup creates or replaces a group's rights.
	SaveGroup(ctx context.Context, name string, rights []Rights) error
	Groups(ctx context.Context) (map[string][]Rights, error)
	AddToGroup(ctx context.Context, user, group string) error
	RemoveFromGroup(ctx context.Context, user, group string) error
}

type systemKey struct{}

// System marks ctx as a trusted local caller (the command line run by the
// administrator of the machine), which acts with full rights.
func System(ctx context.Context) context.Context {
	return context.WithValue(ctx, systemKey{}, true)
}

// IsSystem reports whether ctx was marked by System.
func IsSystem(ctx context.Context) bool {
	b, _ := ctx.Value(systemKey{}).(bool)
	return b
}

// Lister is the paged listing the web UI needs; the service implements it
// beside CRM. It is separate so that adapters that only speak eWay's API
// need not know it.
type Lister interface {
	// List returns one page of the visible items of folder (or of the
	// trash), ordered by name, matching q.Search in name, e-mail, company
	// or phone. q.After is the Next of the previous page.
	List(ctx context.Context, folder Folder, q ListQuery) (ItemPage, error)
	// Access tells, for each visible item of guids, whether the caller may
	// edit and delete it, so that a UI shows only the buttons that work.
	Access(ctx context.Context, folder Folder, guids []string) (map[string]Access, error)
}
