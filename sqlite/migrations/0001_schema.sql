-- Items of every folder. fields holds all field values in the compact
-- encoding of fields.go; the columns beside it copy what queries and rights
-- checks need.
CREATE TABLE items (
	id           INTEGER PRIMARY KEY, -- stable: the change log joins on it
	folder       TEXT    NOT NULL,
	guid         TEXT    NOT NULL,
	version      INTEGER NOT NULL,
	trashed      INTEGER NOT NULL DEFAULT 0,
	owner        TEXT    NOT NULL DEFAULT '',
	private      INTEGER NOT NULL DEFAULT 0,
	company_guid TEXT    NOT NULL DEFAULT '',
	contact_guid TEXT    NOT NULL DEFAULT '',
	email1_lower TEXT    NOT NULL DEFAULT '',
	fields       BLOB    NOT NULL,
	UNIQUE (folder, guid)
);
CREATE INDEX items_email1 ON items (email1_lower, folder);

-- The global change log. owner..contact_guid snapshot who could see the
-- item as written, so the feed can report an item that left a user's view.
-- item_id points at the item's row (NULL for permission changes), so that
-- the feed reads changes and current items in one pass over the id range.
CREATE TABLE changes (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	item_id      INTEGER REFERENCES items (id),
	folder       TEXT    NOT NULL,
	guid         TEXT    NOT NULL,
	version      INTEGER NOT NULL,
	removed      INTEGER NOT NULL DEFAULT 0,
	at           INTEGER NOT NULL,
	owner        TEXT    NOT NULL DEFAULT '',
	private      INTEGER NOT NULL DEFAULT 0,
	company_guid TEXT    NOT NULL DEFAULT '',
	contact_guid TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX changes_guid ON changes (guid, id);

CREATE TABLE users (
	guid          TEXT PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE COLLATE NOCASE,
	full_name     TEXT NOT NULL DEFAULT '',
	password_hash TEXT NOT NULL DEFAULT '',
	is_admin      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE groups (
	name TEXT PRIMARY KEY
);

CREATE TABLE group_rights (
	group_name TEXT    NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
	folder     TEXT    NOT NULL,
	view       INTEGER NOT NULL,
	edit       INTEGER NOT NULL,
	del        INTEGER NOT NULL,
	can_create INTEGER NOT NULL,
	can_export INTEGER NOT NULL,
	PRIMARY KEY (group_name, folder)
);

CREATE TABLE group_members (
	group_name TEXT NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
	user_guid  TEXT NOT NULL REFERENCES users (guid) ON DELETE CASCADE,
	PRIMARY KEY (group_name, user_guid)
);
CREATE INDEX group_members_user ON group_members (user_guid);

CREATE TABLE user_settings (
	user_guid TEXT NOT NULL REFERENCES users (guid) ON DELETE CASCADE,
	path      TEXT NOT NULL,
	name      TEXT NOT NULL,
	value     TEXT NOT NULL,
	PRIMARY KEY (user_guid, path, name)
);

CREATE TABLE global_settings (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE enum_values (
	guid      TEXT PRIMARY KEY,
	enum_type TEXT    NOT NULL,
	en        TEXT    NOT NULL,
	cs        TEXT    NOT NULL DEFAULT '',
	is_system INTEGER NOT NULL DEFAULT 0,
	rank      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX enum_values_type ON enum_values (enum_type, rank, en);
